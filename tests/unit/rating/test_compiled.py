"""Rate selection: prefixes, bands, time zones and the errors of `CompiledCatalog.price`."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
import yaml

from tarif_catalog import (
    CompiledCatalog,
    ConsumptionOrder,
    Quote,
    Rounding,
    Step,
    UnitPrice,
    parse_catalog,
)
from tarif_common.errors import MissingRatingField, NoTariff, UnknownService

UTC = datetime.UTC
LJUBLJANA = ZoneInfo("Europe/Ljubljana")

SELECTION_YAML = """\
timezone: Europe/Ljubljana
resources:
  EUR: {kind: money, currency: EUR, decimals: 2, order: priority}
  JPY: {kind: money, currency: JPY, decimals: 0}
  seconds: {kind: unit, unit: second, order: priority}
  promo_seconds: {kind: unit, unit: second}
service_types:
  voice:
    unit: second
    rating_field: destination
    mandatory: [destination, origin]
    free_resources: [promo_seconds, seconds]
  sms: {unit: event, rating_field: destination, optional: [destination]}
  data: {unit: byte}
time_bands:
  peak: {days: [mon, tue, wed, thu, fri], from: "08:00", to: "20:00"}
  offpeak: {days: [mon, tue, wed, thu, fri], from: "20:00", to: "08:00"}
  weekend: {days: [sat, sun], from: "00:00", to: "24:00"}
  friday_night: {days: [fri], from: "22:00", to: "06:00"}
  sunday_late: {days: [sun], from: "23:00", to: "01:00"}
  small_hours: {from: "02:00", to: "03:00"}
tariffs:
  voice:
    service: voice
    currency: EUR
    rates:
      - {prefix: "", price: "1"}
      - {prefix: "386", price: "0.10"}
      - {prefix: "386", band: peak, price: "0.20"}
      - {prefix: "38640", band: peak, price: "0.30"}
      - {prefix: "3864", price: "0.40"}
      - {prefix: "44", band: friday_night, price: "0.50"}
      - {prefix: "44", band: sunday_late, price: "0.51"}
      - {prefix: "49", band: small_hours, price: "0.60"}
      - {prefix: "49", price: "0.61"}
  sms:
    service: sms
    currency: JPY
    rates:
      - {prefix: "", price: "3"}
      - {prefix: "1", price: "2"}
  data:
    service: data
    currency: EUR
    rates:
      - {prefix: "", price: "0.01", per: 1048576}
  voice-intl-only:
    service: voice
    currency: EUR
    rates:
      - {prefix: "44", price: "1"}
plans:
  basic: {tariffs: {voice: voice, sms: sms, data: data}}
  intl: {tariffs: {voice: voice-intl-only}}
  empty: {tariffs: {}}
"""


@pytest.fixture(scope="module")
def compiled() -> CompiledCatalog:
    return CompiledCatalog(parse_catalog(yaml.safe_load(SELECTION_YAML)))


def local(year: int, month: int, day: int, hour: int, minute: int) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=LJUBLJANA)


MONDAY_NOON = local(2024, 5, 6, 12, 0)
SATURDAY_NOON = local(2024, 5, 11, 12, 0)


def voice(compiled: CompiledCatalog, destination: str, when: datetime.datetime) -> str:
    attributes = {"destination": destination, "origin": "38640111222"}
    return compiled.quote("basic", "voice", attributes, when).rate_id


def test_longest_prefix_wins(compiled: CompiledCatalog) -> None:
    assert voice(compiled, "38641123456", SATURDAY_NOON) == "voice:3864"
    assert voice(compiled, "38651123456", SATURDAY_NOON) == "voice:386"
    assert voice(compiled, "12125550100", SATURDAY_NOON) == "voice:*"
    assert voice(compiled, "386", SATURDAY_NOON) == "voice:386"
    assert voice(compiled, "38", SATURDAY_NOON) == "voice:*"


def test_banded_rate_beats_band_less_rate_of_the_same_prefix(compiled: CompiledCatalog) -> None:
    assert voice(compiled, "38651123456", MONDAY_NOON) == "voice:386:peak"
    assert voice(compiled, "38651123456", local(2024, 5, 6, 20, 0)) == "voice:386"
    assert voice(compiled, "38651123456", local(2024, 5, 6, 7, 59)) == "voice:386"
    assert voice(compiled, "38651123456", local(2024, 5, 6, 8, 0)) == "voice:386:peak"


def test_prefix_with_only_banded_rates_falls_back_to_a_shorter_one(
    compiled: CompiledCatalog,
) -> None:
    assert voice(compiled, "38640123456", MONDAY_NOON) == "voice:38640:peak"
    # Outside peak the 38640 prefix has no rate; 3864 (band-less) is next.
    assert voice(compiled, "38640123456", SATURDAY_NOON) == "voice:3864"
    # 44 only has night bands; outside them the catch-all applies.
    assert voice(compiled, "447700900123", MONDAY_NOON) == "voice:*"


def test_no_matching_rate_at_all(compiled: CompiledCatalog) -> None:
    attributes = {"destination": "38640111222", "origin": "1"}
    with pytest.raises(NoTariff, match="'38640111222'"):
        compiled.quote("intl", "voice", attributes, MONDAY_NOON)
    found = compiled.quote("intl", "voice", {**attributes, "destination": "44"}, MONDAY_NOON)
    assert found.rate_id == "voice-intl-only:44"


@pytest.mark.parametrize("destination", ["+38651123456", "0038651123456", "38651123456"])
def test_international_prefixes_are_normalised(compiled: CompiledCatalog, destination: str) -> None:
    assert voice(compiled, destination, SATURDAY_NOON) == "voice:386"


@pytest.mark.parametrize(
    ("destination", "rate"),
    [
        ("+386 51 123", "voice:386"),
        ("tel:+386-51-123", "voice:386"),
        ("sip:+38651123@gw.example.net;user=phone", "voice:386"),
        ("SIP:0038640123@gw", "voice:3864"),
        ("sip:alice@example.com", "voice:*"),
        ("+", "voice:*"),
        ("٣٨٦", "voice:*"),
    ],
)
def test_any_destination_is_rated_in_its_normal_form(
    compiled: CompiledCatalog, destination: str, rate: str
) -> None:
    # numbers in any written form reach their prefix; anything else still meets the catch-all
    assert voice(compiled, destination, SATURDAY_NOON) == rate


def test_a_destination_only_a_catch_all_could_match_has_no_tariff_without_one(
    compiled: CompiledCatalog,
) -> None:
    attributes = {"destination": "sip:alice@example.com", "origin": "1"}
    with pytest.raises(NoTariff, match=r"'alice@example\.com'"):
        compiled.quote("intl", "voice", attributes, MONDAY_NOON)


def test_wrap_past_midnight_belongs_to_the_day_the_band_starts(compiled: CompiledCatalog) -> None:
    number = "447700900123"
    friday, saturday, thursday = (2024, 5, 10), (2024, 5, 11), (2024, 5, 9)
    assert voice(compiled, number, local(*friday, 21, 59)) == "voice:*"
    assert voice(compiled, number, local(*friday, 22, 0)) == "voice:44:friday_night"
    assert voice(compiled, number, local(*saturday, 5, 59)) == "voice:44:friday_night"
    assert voice(compiled, number, local(*saturday, 6, 0)) == "voice:*"
    assert voice(compiled, number, local(*thursday, 23, 0)) == "voice:*"
    assert voice(compiled, number, local(*saturday, 23, 0)) == "voice:*"
    # Sunday 23:00-01:00 wraps into Monday (the end of the week into its start).
    assert voice(compiled, number, local(2024, 5, 12, 23, 30)) == "voice:44:sunday_late"
    assert voice(compiled, number, local(2024, 5, 13, 0, 30)) == "voice:44:sunday_late"
    assert voice(compiled, number, local(2024, 5, 13, 1, 0)) == "voice:*"


def test_bands_use_the_catalog_time_zone(compiled: CompiledCatalog) -> None:
    number = "38651123456"
    # 07:30 UTC is 08:30 in Ljubljana in winter (CET) and 09:30 in summer (CEST): both peak.
    assert voice(compiled, number, datetime.datetime(2024, 1, 8, 7, 30, tzinfo=UTC)).endswith(
        "peak"
    )
    # 06:30 UTC is 07:30 in winter (not peak) but 08:30 in summer (peak).
    assert voice(compiled, number, datetime.datetime(2024, 1, 8, 6, 30, tzinfo=UTC)) == "voice:386"
    assert voice(compiled, number, datetime.datetime(2024, 7, 8, 6, 30, tzinfo=UTC)).endswith(
        "peak"
    )
    tokyo = datetime.datetime(2024, 7, 8, 15, 30, tzinfo=ZoneInfo("Asia/Tokyo"))  # 08:30 local
    assert voice(compiled, number, tokyo) == "voice:386:peak"


def test_bands_follow_the_wall_clock_across_dst_changes(compiled: CompiledCatalog) -> None:
    number = "4930123456"

    def at_utc(year: int, month: int, day: int, hour: int, minute: int) -> str:
        when = datetime.datetime(year, month, day, hour, minute, tzinfo=UTC)
        return voice(compiled, number, when)

    # 31 March 2024: 02:00 CET jumps to 03:00 CEST, the 02:00-03:00 band never happens.
    assert at_utc(2024, 3, 31, 0, 59) == "voice:49"  # 01:59 CET
    assert at_utc(2024, 3, 31, 1, 0) == "voice:49"  # 03:00 CEST
    assert at_utc(2024, 3, 30, 1, 30) == "voice:49:small_hours"  # the day before: 02:30 CET
    # 27 October 2024: 03:00 CEST falls back to 02:00 CET, the band lasts two hours.
    assert at_utc(2024, 10, 26, 23, 59) == "voice:49"  # 01:59 CEST
    assert at_utc(2024, 10, 27, 0, 0) == "voice:49:small_hours"  # 02:00 CEST
    assert at_utc(2024, 10, 27, 1, 30) == "voice:49:small_hours"  # 02:30 CET
    assert at_utc(2024, 10, 27, 2, 0) == "voice:49"  # 03:00 CET


def test_naive_event_time_is_refused(compiled: CompiledCatalog) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        voice(compiled, "386", datetime.datetime(2024, 5, 6, 12, 0))


def test_service_without_rating_field_uses_the_empty_prefix(compiled: CompiledCatalog) -> None:
    quote = compiled.quote("basic", "data", {"destination": "386"}, MONDAY_NOON)
    assert quote.rate_id == "data:*"


def test_optional_rating_field_absent_matches_only_the_empty_prefix(
    compiled: CompiledCatalog,
) -> None:
    assert compiled.quote("basic", "sms", {}, MONDAY_NOON).rate_id == "sms:*"
    assert compiled.quote("basic", "sms", {"destination": ""}, MONDAY_NOON).rate_id == "sms:*"
    assert compiled.quote("basic", "sms", {"destination": "+1"}, MONDAY_NOON).rate_id == "sms:1"


def test_unknown_service(compiled: CompiledCatalog) -> None:
    with pytest.raises(UnknownService, match="'video'"):
        compiled.quote("basic", "video", {}, MONDAY_NOON)
    with pytest.raises(UnknownService, match="'video'"):
        compiled.service_type("video")


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ({"origin": "1"}, "destination"),
        ({"destination": "", "origin": "1"}, "destination"),
        ({"destination": "386"}, "origin"),
    ],
)
def test_missing_mandatory_field_is_named(
    compiled: CompiledCatalog, attributes: dict[str, str], field: str
) -> None:
    with pytest.raises(MissingRatingField, match=f"'{field}'"):
        compiled.quote("basic", "voice", attributes, MONDAY_NOON)


def test_unknown_plan_or_service_not_in_plan(compiled: CompiledCatalog) -> None:
    with pytest.raises(NoTariff, match="unknown plan 'gold'"):
        compiled.quote("gold", "data", {}, MONDAY_NOON)
    with pytest.raises(NoTariff, match="no tariff for service 'data'"):
        compiled.quote("empty", "data", {}, MONDAY_NOON)


def test_pricing_carries_what_charging_needs(compiled: CompiledCatalog) -> None:
    attributes = {"destination": "38651123456", "origin": "1"}
    quote = compiled.quote("basic", "voice", attributes, MONDAY_NOON)
    pricing = quote.pricing
    assert (quote.prefix, quote.bands, quote.rate_id) == ("386", ("peak",), "voice:386:peak")
    assert pricing.tariff_id == "voice"
    assert pricing.service == "voice"
    assert (pricing.money_resource, pricing.currency, pricing.decimals) == ("EUR", "EUR", 2)
    assert pricing.money_order is ConsumptionOrder.PRIORITY
    assert pricing.free_resources == (
        ("promo_seconds", ConsumptionOrder.EARLIEST_EXPIRY),
        ("seconds", ConsumptionOrder.PRIORITY),
    )
    assert pricing.steps == (Step(0, 1),)
    assert pricing.scale == 1
    assert pricing.prices == (UnitPrice(None, 200_000),)
    assert (pricing.rounding, pricing.rounding_decimals) == (Rounding.UP, 2)
    # The same Pricing object is shared by every request on that rate; it can key a cache.
    assert compiled.quote("basic", "voice", attributes, MONDAY_NOON).pricing is pricing
    other = compiled.quote("basic", "voice", {**attributes, "destination": "38652"}, MONDAY_NOON)
    assert other.pricing is pricing
    assert other.prefix == "386"
    sms = compiled.quote("basic", "sms", {"destination": "1"}, MONDAY_NOON).pricing
    assert (sms.currency, sms.decimals, sms.free_resources) == ("JPY", 0, ())


def test_a_one_piece_quote_is_made_once_and_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = CompiledCatalog(parse_catalog(yaml.safe_load(SELECTION_YAML)))
    first = fresh.quote("basic", "sms", {"destination": "1555"}, MONDAY_NOON, 1)
    assert fresh.quote("basic", "sms", {"destination": "+1 555"}, SATURDAY_NOON, 3) is first
    assert first.rate_id == "sms:1"
    other = fresh.quote("basic", "sms", {"destination": "4420"}, MONDAY_NOON, 1)
    assert other.rate_id == "sms:*"
    assert other is not first
    monkeypatch.setattr("tarif_catalog.compiled.QUOTES", 0)  # none kept: made per request
    unkept = CompiledCatalog(parse_catalog(yaml.safe_load(SELECTION_YAML)))
    made = unkept.quote("basic", "sms", {"destination": "1555"}, MONDAY_NOON, 1)
    again = unkept.quote("basic", "sms", {"destination": "1555"}, MONDAY_NOON, 1)
    assert made == again
    assert made is not again


def test_banded_prefixes_quote_alike_from_a_fresh_or_a_served_catalog() -> None:
    """Chains of banded prefixes are kept once matched: later requests, for other numbers
    under the same prefixes, get what a fresh catalog gives them."""
    served = CompiledCatalog(parse_catalog(yaml.safe_load(SELECTION_YAML)))
    numbers = ["38640111", "38640", "386401", "3864", "38651", "44207", "4420", "49301", "1"]
    times = [MONDAY_NOON, SATURDAY_NOON, local(2024, 5, 10, 21, 59), local(2024, 5, 12, 0, 30),
             local(2024, 5, 6, 19, 59), local(2024, 5, 7, 2, 30)]  # fmt: skip
    for when in times:
        for number in numbers:
            attributes = {"destination": number, "origin": "386"}
            fresh = CompiledCatalog(parse_catalog(yaml.safe_load(SELECTION_YAML)))
            for units in (7200, 60, 0):
                expected = fresh.quote("basic", "voice", attributes, when, units)
                got = served.quote("basic", "voice", attributes, when, units)
                assert _pieces(got) == _pieces(expected)
    # a call within one band is a one-piece quote, shared like a band-less rate's
    first = served.quote("basic", "voice", {"destination": "38651", "origin": "1"}, MONDAY_NOON, 60)
    assert len(first.pieces) == 1
    assert (
        served.quote("basic", "voice", {"destination": "386519", "origin": "1"}, MONDAY_NOON, 9)
        is first
    )


def _pieces(quote: Quote) -> list[tuple[int, str, str, tuple[UnitPrice, ...]]]:
    """A quote's pieces by value (each catalog has its own `Pricing` objects)."""
    return [(p.start, p.prefix, p.rate_id, p.pricing.prices) for p in quote.pieces]
