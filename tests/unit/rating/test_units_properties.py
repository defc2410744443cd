"""Properties of the arithmetic that charging relies on (monotone, no drift across commits)."""

from __future__ import annotations

from fractions import Fraction
from math import ceil

from hypothesis import given
from hypothesis import strategies as st

from tarif_catalog import Tier, cost_minor, rated_units, tier_cost_micros, to_minor


class _Pricing:
    def __init__(self, tiers: tuple[Tier, ...], decimals: int, connect_fee: int) -> None:
        self.tiers = tiers
        self.decimals = decimals
        self.connect_fee_micros = connect_fee


increments = st.integers(min_value=1, max_value=3600)
usage = st.integers(min_value=0, max_value=10**12)


@st.composite
def tier_lists(draw: st.DrawFn) -> tuple[Tier, ...]:
    count = draw(st.integers(min_value=1, max_value=4))
    tiers: list[Tier] = []
    up_to = 0
    for i in range(count):
        price = draw(st.integers(min_value=0, max_value=10**7))
        per = draw(st.integers(min_value=1, max_value=10**6))
        if i == count - 1:
            tiers.append(Tier(None, price, per))
        else:
            up_to += draw(st.integers(min_value=1, max_value=10**9))
            tiers.append(Tier(up_to, price, per))
    return tuple(tiers)


pricings = st.builds(
    _Pricing,
    tier_lists(),
    st.integers(min_value=0, max_value=6),
    st.integers(min_value=0, max_value=10**6),
)


@given(usage, increments, increments)
def test_rated_units_cover_usage_on_the_increment_grid(units: int, first: int, nxt: int) -> None:
    rated = rated_units(units, first, nxt)
    assert rated >= units
    if units:
        assert rated >= first
        assert (rated - first) % nxt == 0
        assert rated - units < max(first, nxt)


@given(usage, usage, increments, increments)
def test_rated_units_are_monotone(a: int, b: int, first: int, nxt: int) -> None:
    low, high = sorted((a, b))
    assert rated_units(low, first, nxt) <= rated_units(high, first, nxt)


@given(usage, tier_lists())
def test_tier_cost_is_exact_ceiling_per_tier(units: int, tiers: tuple[Tier, ...]) -> None:
    expected, lower = 0, 0
    for tier in tiers:
        upper = units if tier.up_to is None else min(units, tier.up_to)
        if upper <= lower:
            break
        expected += ceil(Fraction((upper - lower) * tier.price_micros, tier.per_units))
        lower = upper
    assert tier_cost_micros(units, tiers) == expected


@given(usage, usage, increments, increments, pricings)
def test_cost_is_monotone_in_usage(a: int, b: int, first: int, nxt: int, pricing: _Pricing) -> None:
    low, high = sorted((a, b))
    low_rated, high_rated = rated_units(low, first, nxt), rated_units(high, first, nxt)
    assert cost_minor(low_rated, low_rated, pricing) <= cost_minor(high_rated, high_rated, pricing)


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=0, max_value=6))
def test_to_minor_is_the_smallest_amount_covering_the_micros(micros: int, decimals: int) -> None:
    minor = to_minor(micros, decimals)
    scale = 10 ** (6 - decimals)
    assert minor * scale >= micros > (minor - 1) * scale


@given(
    st.lists(st.integers(min_value=0, max_value=10**7), max_size=30),
    st.integers(min_value=0, max_value=10**7),
    increments,
    increments,
    pricings,
)
def test_session_commits_sum_to_the_cost_of_the_whole(
    reports: list[int], free: int, first: int, nxt: int, pricing: _Pricing
) -> None:
    """Charging `cost(cumulative) - charged_so_far` per report never drifts from one-shot cost."""

    def cost(used: int) -> int:
        rated = rated_units(used, first, nxt)
        return cost_minor(max(0, rated - free), rated, pricing)

    used = charged = 0
    for report in reports:
        used += report
        delta = cost(used) - charged
        assert delta >= 0
        charged += delta
    assert charged == cost(sum(reports))
