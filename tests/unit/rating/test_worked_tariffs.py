"""Worked examples: each expected cost is worked out by hand from the tariff in the comment,
not from the code, then checked against selection (`CompiledCatalog.quote`) and the call
arithmetic (`call_cost`) together."""

from __future__ import annotations

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import yaml

from tarif_catalog import CompiledCatalog, Quote, call_cost, parse_catalog

PARIS = ZoneInfo("Europe/Paris")

TARIFFS = """\
timezone: Europe/Paris
resources:
  EUR: {kind: money, currency: EUR, decimals: 2}
  minutes: {kind: unit, unit: second}
service_types:
  voice:
    unit: second
    rating_field: destination
    mandatory: [destination]
    free_resources: [minutes]
  sms: {unit: event, rating_field: destination, mandatory: [destination]}
time_bands:
  peak: {days: [mon, tue, wed, thu, fri], from: "08:00", to: "20:00"}
  offpeak: {days: [sun, mon, tue, wed, thu, fri], from: "20:00", to: "08:00"}
  weekend: {days: [sat, sun], from: "00:00", to: "24:00", priority: 15}  # beats off-peak
  christmas: {dates: ["2026-12-25"], from: "00:00", to: "24:00"}
tariffs:
  voice:
    service: voice
    currency: EUR
    rates:
      - {prefix: "33", band: peak, price: "0.10", per: 60, connect_fee: "0.05"}
      - {prefix: "33", band: offpeak, price: "0.02", per: 60, connect_fee: "0.03"}
      - {prefix: "33", band: weekend, price: "0.03", per: 60}
      - {prefix: "33", band: christmas, price: "0.01", per: 60}
      - {prefix: "336", price: "0.15", per: 60}
      - {prefix: "sip:voicemail@ims.example", price: "0"}
      - {prefix: "44", price: "0.10", per: 60, increment: [60, 60]}
      - {prefix: "1", price: "0.10", per: 60, max_cost: "1.00"}
      - {prefix: "7", price: "0.10", per: 60, max_cost: "1.00", max_cost_action: disconnect}
      - {prefix: "", price: "0.50", per: 60}
  voice-start-band:
    service: voice
    currency: EUR
    bands: start
    rates:
      - {prefix: "33", band: peak, price: "0.10", per: 60}
      - {prefix: "33", band: offpeak, price: "0.02", per: 60}
      - {prefix: "", price: "0.50", per: 60}
  wholesale-up:
    service: voice
    currency: EUR
    rounding: {method: up, decimals: 4}
    rates: [{prefix: "", price: "0.01234", per: 60}]
  wholesale-half-up:
    service: voice
    currency: EUR
    rounding: {method: half_up, decimals: 4}
    rates: [{prefix: "", price: "0.01234", per: 60}]
plans:
  std: {tariffs: {voice: voice}}
  start: {tariffs: {voice: voice-start-band}}
  up: {tariffs: {voice: wholesale-up}}
  half-up: {tariffs: {voice: wholesale-half-up}}
"""


@pytest.fixture(scope="module")
def compiled() -> CompiledCatalog:
    return CompiledCatalog(parse_catalog(yaml.safe_load(TARIFFS)))


def at(year: int, month: int, day: int, hour: int, minute: int) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=PARIS)


def charge(
    compiled: CompiledCatalog,
    start: datetime.datetime,
    seconds: int,
    destination: str = "33123456789",
    plan: str = "std",
    free: int = 0,
    waive: bool = False,
) -> tuple[Decimal, Quote]:
    quote = compiled.quote(plan, "voice", {"destination": destination}, start, seconds)
    cost = call_cost(seconds, free, quote.pricing.terms(), quote.schedule(), waive)
    return Decimal(cost.minor).scaleb(-2), quote


@pytest.mark.parametrize(
    ("start", "seconds", "expected", "bands"),
    [
        # Tue 07:45 for 35 min: 15 min off-peak x 0.02 = 0.30, 20 min peak x 0.10 = 2.00, and the
        # connect fee of the band at the start (off-peak, 0.03): 2.33
        (at(2026, 12, 1, 7, 45), 35 * 60, "2.33", ("offpeak", "peak")),
        # Sun 23:40 for 35 min: 20 min weekend x 0.03 = 0.60, then Monday's off-peak from 00:00,
        # 15 min x 0.02 = 0.30; the weekend rate has no connect fee: 0.90
        (at(2026, 11, 29, 23, 40), 35 * 60, "0.90", ("weekend", "offpeak")),
        # Fri 25 Dec (a weekday and a holiday) 10:00 for 10 min: the holiday band beats peak,
        # 10 x 0.01 = 0.10, no connect fee
        (at(2026, 12, 25, 10, 0), 10 * 60, "0.10", ("christmas",)),
        # Fri 25 Dec 23:55 for 10 min: 5 min holiday x 0.01 = 0.05, then Saturday's weekend
        # 5 min x 0.03 = 0.15: 0.20
        (at(2026, 12, 25, 23, 55), 10 * 60, "0.20", ("christmas", "weekend")),
        # Thu 24 Dec 19:59 for 2 min: 1 min peak 0.10, 1 min off-peak 0.02, fee 0.05: 0.17
        (at(2026, 12, 24, 19, 59), 2 * 60, "0.17", ("peak", "offpeak")),
    ],
)
def test_calls_across_bands_are_split(
    compiled: CompiledCatalog,
    start: datetime.datetime,
    seconds: int,
    expected: str,
    bands: tuple[str, ...],
) -> None:
    cost, quote = charge(compiled, start, seconds)
    assert cost == Decimal(expected)
    assert quote.bands == bands


def test_split_offsets_count_from_the_start_of_the_call(compiled: CompiledCatalog) -> None:
    _, quote = charge(compiled, at(2026, 12, 1, 7, 45), 35 * 60)
    assert [(piece.start, piece.rate_id) for piece in quote.pieces] == [
        (0, "voice:33:offpeak"),
        (15 * 60, "voice:33:peak"),
    ]


def test_whole_call_at_its_start_band_when_the_tariff_says_so(compiled: CompiledCatalog) -> None:
    # Tue 07:45 for 35 min, all of it at the off-peak rate it started in: 35 x 0.02 = 0.70
    cost, quote = charge(compiled, at(2026, 12, 1, 7, 45), 35 * 60, plan="start")
    assert cost == Decimal("0.70")
    assert quote.bands == ("offpeak",)


@pytest.mark.parametrize(
    ("destination", "rate", "expected"),
    [
        # a French mobile in a SIP URI: 10 min x 0.15 = 1.50
        ("sip:+33612345678@ims.example;user=phone", "voice:336", "1.50"),
        ("tel:+33-6-12-34-56-78", "voice:336", "1.50"),
        # the voicemail service by name: free
        ("sip:voicemail@ims.example", "voice:voicemail@ims.example", "0.00"),
        # any other SIP user: the catch-all, 10 x 0.50 = 5.00
        ("sip:alice@example.com", "voice:*", "5.00"),
    ],
)
def test_sip_destinations(
    compiled: CompiledCatalog, destination: str, rate: str, expected: str
) -> None:
    cost, quote = charge(compiled, at(2026, 12, 1, 10, 0), 10 * 60, destination)
    assert (quote.rate_id, cost) == (rate, Decimal(expected))


def test_capped_calls(compiled: CompiledCatalog) -> None:
    start = at(2026, 12, 1, 10, 0)
    # 20 min x 0.10 = 2.00, capped at 1.00; the rest of the call is free
    quote = compiled.quote("std", "voice", {"destination": "1555"}, start, 1200)
    capped = call_cost(1200, 0, quote.pricing.terms(), quote.schedule())
    assert (capped.minor, capped.rated, capped.capped) == (100, 1200, True)
    # the same with disconnect: 1.00 pays 10 minutes, the call is cut there
    quote = compiled.quote("std", "voice", {"destination": "7495"}, start, 1200)
    cut = call_cost(1200, 0, quote.pricing.terms(), quote.schedule())
    assert (cut.minor, cut.rated, cut.capped) == (100, 600, True)


def test_free_minutes_in_sixty_second_steps(compiled: CompiledCatalog) -> None:
    start = at(2026, 12, 1, 10, 0)
    # UK, 0.10/min in 60 s steps, no fee: 150 s is 3 minutes; 100 free seconds give 1 whole free
    # minute (40 s stay on the balance), the other 2 minutes cost 0.20
    cost, _ = charge(compiled, start, 150, "447700900123", free=100)
    assert cost == Decimal("0.20")
    # France peak (per second, fee 0.05): 150 s with 100 free seconds: 50 s x 0.10/60 = 0.0833..
    # rounded up once to 0.09, plus the fee: 0.14; with the fee waived by the bundle: 0.09
    assert charge(compiled, start, 150, free=100)[0] == Decimal("0.14")
    assert charge(compiled, start, 150, free=100, waive=True)[0] == Decimal("0.09")
    # all of it free: only the fee, or nothing when waived
    assert charge(compiled, start, 150, free=600)[0] == Decimal("0.05")
    assert charge(compiled, start, 150, free=600, waive=True)[0] == Decimal("0.00")


def test_rounding_half_up_against_up_at_four_decimals(compiled: CompiledCatalog) -> None:
    start = at(2026, 12, 1, 10, 0)
    # 60 s at 0.01234/min = 0.01234 exactly; at 4 decimals: up 0.0124, half-up 0.0123; then to
    # cents by the same method: up 0.02, half-up 0.01
    for plan, at_tariff, debited in (("up", 124, "0.02"), ("half-up", 123, "0.01")):
        quote = compiled.quote(plan, "voice", {"destination": "1"}, start, 60)
        cost = call_cost(60, 0, quote.pricing.terms(), quote.schedule())
        assert cost.at_tariff == at_tariff
        assert Decimal(cost.minor).scaleb(-2) == Decimal(debited)
