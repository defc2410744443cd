"""Calendars: bands by date, day of the month and month beat weekday bands by priority; a band
may keep its own time zone."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
import yaml

from tarif_catalog import CompiledCatalog, parse_catalog
from tarif_common.errors import CatalogError

CATALOG = """\
timezone: Europe/Paris
resources:
  EUR: {kind: money, currency: EUR, decimals: 2}
service_types:
  voice: {unit: second, rating_field: destination, mandatory: [destination]}
time_bands:
  peak: {days: [mon, tue, wed, thu, fri], from: "08:00", to: "20:00"}
  holidays: {dates: ["2026-12-25", 2027-01-01], from: "00:00", to: "24:00"}
  first-of-month: {days_of_month: [1], from: "00:00", to: "24:00", priority: 15}
  summer-evenings: {months: [jul, aug], from: "18:00", to: "22:00", priority: 30}
  new-york-day: {days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00",
                 timezone: America/New_York}
tariffs:
  voice:
    service: voice
    currency: EUR
    rates:
      - {prefix: "33", band: peak, price: "0.10"}
      - {prefix: "33", band: holidays, price: "0.01"}
      - {prefix: "33", band: first-of-month, price: "0.02"}
      - {prefix: "33", band: summer-evenings, price: "0.03"}
      - {prefix: "33", price: "0.05"}
      - {prefix: "1", band: new-york-day, price: "0.20"}
      - {prefix: "", price: "1"}
plans:
  p: {tariffs: {voice: voice}}
"""
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(scope="module")
def compiled() -> CompiledCatalog:
    return CompiledCatalog(parse_catalog(yaml.safe_load(CATALOG)))


def rate(compiled: CompiledCatalog, destination: str, *local: int) -> str:
    when = datetime.datetime(*local, tzinfo=PARIS)  # type: ignore[misc]
    return compiled.quote("p", "voice", {"destination": destination}, when).rate_id


def test_a_holiday_beats_the_weekday_band(compiled: CompiledCatalog) -> None:
    assert rate(compiled, "331", 2026, 12, 24, 10, 0) == "voice:33:peak"  # Thursday
    assert rate(compiled, "331", 2026, 12, 25, 10, 0) == "voice:33:holidays"  # Friday, Christmas
    assert rate(compiled, "331", 2026, 12, 26, 10, 0) == "voice:33"  # Saturday


def test_priorities_decide_between_calendar_bands(compiled: CompiledCatalog) -> None:
    # 1 January is a holiday (20) and a first of the month (15): the holiday wins
    assert rate(compiled, "331", 2027, 1, 1, 10, 0) == "voice:33:holidays"
    # 1 February, a Monday: first of the month (15) beats peak (10)
    assert rate(compiled, "331", 2027, 2, 1, 10, 0) == "voice:33:first-of-month"
    # 1 July 19:00: the summer evening (30) beats the first of the month (15) and peak (10)
    assert rate(compiled, "331", 2027, 7, 1, 19, 0) == "voice:33:summer-evenings"
    assert rate(compiled, "331", 2027, 7, 2, 21, 0) == "voice:33:summer-evenings"
    assert rate(compiled, "331", 2027, 6, 2, 21, 0) == "voice:33"


def test_a_band_in_its_own_time_zone(compiled: CompiledCatalog) -> None:
    # 09:00-17:00 in New York is 15:00-23:00 in Paris (both on winter time in January)
    assert rate(compiled, "1212", 2027, 1, 5, 14, 59) == "voice:*"
    assert rate(compiled, "1212", 2027, 1, 5, 15, 0) == "voice:1:new-york-day"
    assert rate(compiled, "1212", 2027, 1, 5, 22, 59) == "voice:1:new-york-day"
    assert rate(compiled, "1212", 2027, 1, 5, 23, 0) == "voice:*"


def test_a_call_into_a_holiday_is_split_at_midnight(compiled: CompiledCatalog) -> None:
    start = datetime.datetime(2026, 12, 24, 23, 50, tzinfo=PARIS)
    quote = compiled.quote("p", "voice", {"destination": "331"}, start, 20 * 60)
    assert [(p.start, p.rate_id) for p in quote.pieces] == [
        (0, "voice:33"),
        (600, "voice:33:holidays"),
    ]


def test_overlapping_bands_at_the_same_priority_are_refused() -> None:
    doc = yaml.safe_load(CATALOG)
    doc["time_bands"]["first-of-month"]["priority"] = 20  # now equal to the holidays'
    with pytest.raises(CatalogError, match="overlaps band 'holidays'"):
        parse_catalog(doc)
    # dates that never meet are fine at the same priority
    doc["time_bands"]["first-of-month"]["months"] = [2]
    doc["time_bands"]["holidays"]["dates"] = ["2026-12-25"]
    parse_catalog(doc)


def test_band_dates_and_defaults() -> None:
    band = parse_catalog(yaml.safe_load(CATALOG)).time_bands
    assert band["holidays"].dates == frozenset(
        {datetime.date(2026, 12, 25), datetime.date(2027, 1, 1)}
    )
    assert (band["holidays"].priority, band["peak"].priority) == (20, 10)
    assert band["summer-evenings"].months == frozenset({7, 8})
    assert band["new-york-day"].timezone == "America/New_York"
