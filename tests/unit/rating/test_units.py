"""Worked examples of the unit and price arithmetic (the Lua script must give the same numbers)."""

from __future__ import annotations

import pytest

from tarif_catalog import Tier, cost_minor, rated_units, tier_cost_micros, to_minor
from tarif_catalog.units import Priced


class _Pricing:
    """The three fields `cost_minor` reads."""

    def __init__(self, tiers: tuple[Tier, ...], decimals: int = 2, connect_fee: int = 0) -> None:
        self.tiers = tiers
        self.decimals = decimals
        self.connect_fee_micros = connect_fee


def _per_minute(price_micros: int, decimals: int = 2, connect_fee: int = 0) -> Priced:
    return _Pricing((Tier(None, price_micros, 60),), decimals, connect_fee)


@pytest.mark.parametrize(
    ("units", "first", "nxt", "expected"),
    [
        (0, 60, 60, 0),
        (1, 60, 60, 60),
        (60, 60, 60, 60),
        (61, 60, 60, 120),
        (1200, 60, 60, 1200),
        (1250, 60, 60, 1260),
        (1, 30, 6, 30),
        (31, 30, 6, 36),
        (36, 30, 6, 36),
        (37, 30, 6, 42),
        (7, 1, 1, 7),
        (1, 1024, 1024, 1024),
    ],
)
def test_rated_units(units: int, first: int, nxt: int, expected: int) -> None:
    assert rated_units(units, first, nxt) == expected


def test_rated_units_rejects_negative_usage() -> None:
    with pytest.raises(ValueError, match="negative"):
        rated_units(-1, 1, 1)


def test_twenty_minutes_at_twelve_cents_per_minute() -> None:
    pricing = _per_minute(120_000)
    rated = rated_units(1200, 60, 60)
    assert rated == 1200
    assert cost_minor(rated, rated, pricing) == 240


def test_partial_minute_is_rounded_to_the_next_increment() -> None:
    pricing = _per_minute(120_000)
    rated = rated_units(1250, 60, 60)
    assert rated == 1260  # 21 minutes
    assert cost_minor(rated, rated, pricing) == 252


def test_one_second_at_per_second_increments_rounds_money_up_once() -> None:
    pricing = _per_minute(100_000)  # 0.10 EUR/min, 1/1 increments
    rated = rated_units(1, 1, 1)
    assert tier_cost_micros(rated, pricing.tiers) == 1667  # ceil(100000 / 60)
    assert cost_minor(rated, rated, pricing) == 1  # 0.001667 EUR -> 1 cent


def test_tiers_crossing_a_boundary() -> None:
    gib, mib = 1 << 30, 1 << 20
    tiers = (Tier(gib, 10_000, mib), Tier(None, 5_000, mib))
    assert tier_cost_micros(gib, tiers) == 1024 * 10_000
    assert tier_cost_micros(gib + mib, tiers) == 1024 * 10_000 + 5_000
    assert to_minor(tier_cost_micros(gib + mib, tiers), 2) == 1025  # 10.245 EUR rounds up


def test_tier_cost_rounds_up_inside_each_tier() -> None:
    tiers = (Tier(10, 100, 3), Tier(None, 50, 4))
    # first tier: 10 units = 3 * 100 + ceil(1 * 100 / 3) = 334; second: 2 units = ceil(100 / 4)
    assert tier_cost_micros(10, tiers) == 334
    assert tier_cost_micros(12, tiers) == 334 + 25


def test_three_tiers_and_empty_usage() -> None:
    tiers = (Tier(10, 1, 1), Tier(20, 2, 1), Tier(None, 3, 1))
    assert tier_cost_micros(0, tiers) == 0
    assert tier_cost_micros(25, tiers) == 10 * 1 + 10 * 2 + 5 * 3


def test_yen_has_no_minor_unit() -> None:
    pricing = _per_minute(5_000_000, decimals=0)  # 5 JPY per minute
    # 61 s at 1/1: ceil(61 * 5e6 / 60) = 5_083_334 micros -> 6 yen
    assert tier_cost_micros(61, pricing.tiers) == 5_083_334
    assert cost_minor(61, 61, pricing) == 6
    assert cost_minor(60, 60, pricing) == 5


@pytest.mark.parametrize(
    ("micros", "decimals", "expected"),
    [(0, 2, 0), (1, 2, 1), (10_000, 2, 1), (10_001, 2, 2), (1, 0, 1), (999_999, 6, 999_999)],
)
def test_to_minor_rounds_up(micros: int, decimals: int, expected: int) -> None:
    assert to_minor(micros, decimals) == expected


def test_to_minor_rejects_bad_decimals() -> None:
    with pytest.raises(ValueError, match="decimals"):
        to_minor(1, 7)


def test_connect_fee_is_charged_only_once_something_is_rated() -> None:
    pricing = _per_minute(120_000, connect_fee=50_000)
    assert cost_minor(0, 0, pricing) == 0
    assert cost_minor(60, 60, pricing) == 5 + 12
    # Fully covered by free units: the fee is still due.
    assert cost_minor(0, 60, pricing) == 5


def test_cost_rejects_more_money_units_than_rated() -> None:
    with pytest.raises(ValueError, match="money_units"):
        cost_minor(61, 60, _per_minute(1))
