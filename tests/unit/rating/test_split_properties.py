"""Property: a call split at band changes costs the sum of its parts rated separately, each
second at the rate in force when it starts, and is rounded once."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tarif_catalog import CompiledCatalog, call_cost, parse_catalog, range_cost, to_currency
from tarif_catalog.quote import Quote
from tarif_catalog.units import rated_units

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ZONES = ["Europe/Paris", "America/New_York", "UTC"]


@st.composite
def tariffs(draw: st.DrawFn) -> dict[str, Any]:
    """Up to three weekly bands at distinct priorities, a dated one, random prices and steps."""
    bands: dict[str, Any] = {}
    for i in range(draw(st.integers(1, 3))):
        start, end = draw(st.integers(0, 47)), draw(st.integers(0, 47))
        bands[f"b{i}"] = {
            "days": draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True)),
            "from": f"{start // 2:02d}:{30 * (start % 2):02d}",
            "to": f"{end // 2:02d}:{30 * (end % 2):02d}",
            "priority": 10 + i,
        }
    if draw(st.booleans()):
        bands["holiday"] = {"dates": ["2026-03-29", "2026-11-01"], "from": "00:00", "to": "24:00"}
    price = st.integers(0, 500).map(lambda cents: f"{cents / 100:.2f}")
    per = draw(st.sampled_from([1, 60]))
    first, nxt = draw(st.sampled_from([(1, 1), (60, 60), (30, 6), (60, 1)]))
    rates = [
        {"prefix": "33", "band": name, "price": draw(price), "per": per, "increment": [first, nxt]}
        for name in bands
    ]
    rates.append({"prefix": "", "price": draw(price), "per": per, "increment": [first, nxt]})
    return {
        "timezone": draw(st.sampled_from(ZONES)),
        "resources": {"EUR": {"kind": "money", "currency": "EUR", "decimals": 2}},
        "service_types": {
            "voice": {"unit": "second", "rating_field": "destination", "mandatory": ["destination"]}
        },
        "time_bands": bands,
        "tariffs": {
            "t": {
                "service": "voice",
                "currency": "EUR",
                "rounding": {"method": draw(st.sampled_from(["up", "half_up", "down"]))},
                "rates": rates,
            }
        },
        "plans": {"p": {"tariffs": {"voice": "t"}}},
    }


starts = st.datetimes(
    min_value=datetime.datetime(2026, 3, 27),  # a DST change in Europe, on a holiday too
    max_value=datetime.datetime(2026, 11, 3),
    timezones=st.just(datetime.UTC),
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))
# or near the autumn change of both zones
near_changes = st.sampled_from(
    [
        datetime.datetime(2026, 3, 29, 0, 30, tzinfo=datetime.UTC),
        datetime.datetime(2026, 10, 25, 0, 15, 30, tzinfo=datetime.UTC),
        datetime.datetime(2026, 11, 1, 5, 30, tzinfo=datetime.UTC),
        datetime.datetime(2026, 3, 8, 6, 45, tzinfo=datetime.UTC),
    ]
)


def per_second_oracle(
    compiled: CompiledCatalog, quote: Quote, start: datetime.datetime, rated: int, free: int
) -> int:
    """Each second of [free, rated) at the rate selected at the instant it starts."""
    total = 0
    for second in range(free, rated):
        instant = start + datetime.timedelta(seconds=second)
        rate = compiled.quote("p", "voice", {"destination": "33100"}, instant, 1).pricing
        total += range_cost(second, second + 1, [(0, rate.prices)])
    return total


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tariffs(),
    st.one_of(starts, near_changes),
    st.integers(1, 3 * 3600),
    st.integers(0, 3600),
)
def test_split_cost_is_the_sum_of_its_parts_rounded_once(
    doc: dict[str, Any], start: datetime.datetime, seconds: int, free: int
) -> None:
    compiled = CompiledCatalog(parse_catalog(doc))
    quote = compiled.quote("p", "voice", {"destination": "33100"}, start, seconds)
    terms = quote.pricing.terms()
    cost = call_cost(seconds, free, terms, quote.schedule())
    rated = rated_units(seconds, terms.steps)
    exact = per_second_oracle(compiled, quote, start, rated, cost.free)
    fee = terms.connect_fee if rated else 0
    assert cost.scaled == fee + exact, (doc, start, seconds, free, quote)
    # rounded once, from the exact sum
    assert (cost.at_tariff, cost.minor) == to_currency(
        fee + exact, terms.scale, terms.decimals, terms.method, terms.currency_decimals
    )
    # pieces start where the rate changes, and only there
    offsets = [piece.start for piece in quote.pieces]
    assert offsets == sorted(set(offsets))
    assert offsets[0] == 0
    for before, after in zip(quote.pieces, quote.pieces[1:], strict=False):
        assert (before.pricing, before.prefix) != (after.pricing, after.prefix)


def _doc(band: dict[str, Any], zone: str = "Europe/Paris") -> dict[str, Any]:
    return {
        "timezone": zone,
        "resources": {"EUR": {"kind": "money", "currency": "EUR", "decimals": 2}},
        "service_types": {
            "voice": {"unit": "second", "rating_field": "destination", "mandatory": ["destination"]}
        },
        "time_bands": {"b": band},
        "tariffs": {
            "t": {
                "service": "voice",
                "currency": "EUR",
                "rates": [
                    {"prefix": "33", "band": "b", "price": "0.01"},
                    {"prefix": "", "price": "0.02"},
                ],
            }
        },
        "plans": {"p": {"tariffs": {"voice": "t"}}},
    }


@pytest.mark.parametrize(
    ("band", "start"),
    [
        # fall back in Paris (03:00 CEST -> 02:00 CET on 25 Oct 2026): the wall clock shows
        # 02:00-03:00 twice, so a band in that hour opens and closes twice
        ({"from": "02:00", "to": "02:30"}, datetime.datetime(2026, 10, 24, 23, 50, 0, 300_000)),
        # and one that starts at 02:30 is left when the clock goes back to 02:00
        ({"from": "02:30", "to": "04:00"}, datetime.datetime(2026, 10, 24, 23, 59, 59, 900_000)),
        # spring forward (02:00 CET -> 03:00 CEST on 29 Mar 2026): 02:30 never shows
        ({"from": "02:30", "to": "05:00"}, datetime.datetime(2026, 3, 28, 23, 45, 0, 500_000)),
        ({"from": "01:30", "to": "02:30"}, datetime.datetime(2026, 3, 29, 0, 15)),
    ],
)
def test_split_across_clock_changes(band: dict[str, Any], start: datetime.datetime) -> None:
    compiled = CompiledCatalog(parse_catalog(_doc(band)))
    begin = start.replace(tzinfo=datetime.UTC)
    seconds = 4 * 3600
    quote = compiled.quote("p", "voice", {"destination": "33100"}, begin, seconds)
    cost = call_cost(seconds, 0, quote.pricing.terms(), quote.schedule())
    assert cost.scaled == per_second_oracle(compiled, quote, begin, seconds, 0)
    assert len(quote.pieces) >= 2
