"""Properties of the call arithmetic: a split call costs the sum of its parts, rounded once."""

from __future__ import annotations

import itertools
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from tarif_catalog import (
    CallTerms,
    Rounding,
    Step,
    UnitPrice,
    call_cost,
    floor_boundary,
    range_cost,
    rated_units,
)
from tarif_catalog.units import Segment, round_div


@st.composite
def step_lists(draw: st.DrawFn) -> tuple[Step, ...]:
    steps = [Step(0, draw(st.integers(1, 120)))]
    for _ in range(draw(st.integers(0, 2))):
        last = steps[-1]
        start = last.start + last.size * draw(st.integers(1, 10))
        steps.append(Step(start, draw(st.integers(1, 120))))
    return tuple(steps)


@st.composite
def price_lists(draw: st.DrawFn) -> tuple[UnitPrice, ...]:
    bounds = sorted(draw(st.sets(st.integers(1, 5000), max_size=2)))
    prices = [UnitPrice(b, draw(st.integers(0, 10**6))) for b in bounds]
    prices.append(UnitPrice(None, draw(st.integers(0, 10**6))))
    return tuple(prices)


@st.composite
def schedules(draw: st.DrawFn) -> tuple[Segment, ...]:
    starts = sorted(draw(st.sets(st.integers(1, 5000), max_size=3)))
    return tuple((start, draw(price_lists())) for start in [0, *starts])


@given(st.integers(0, 10**9), step_lists())
def test_rated_units_is_the_smallest_boundary_at_or_above(
    units: int, steps: tuple[Step, ...]
) -> None:
    rated = rated_units(units, steps)
    assert rated >= units
    assert floor_boundary(rated, steps) == rated
    assert rated == 0 or floor_boundary(rated - 1, steps) < units


@given(schedules(), st.lists(st.integers(0, 6000), min_size=1, max_size=5))
def test_a_split_range_costs_the_sum_of_its_parts(
    schedule: tuple[Segment, ...], cuts: list[int]
) -> None:
    points = sorted(cuts)
    whole = range_cost(points[0], points[-1], schedule)
    parts = sum(range_cost(a, b, schedule) for a, b in itertools.pairwise(points))
    assert whole == parts


def _exact(a: int, b: int, schedule: tuple[Segment, ...]) -> Fraction:
    """Unit by unit: the price in force at each offset."""
    total = Fraction(0)
    for offset in range(a, b):
        segment = max((s for s in schedule if s[0] <= offset), key=lambda s: s[0])
        price = next(p.price for p in segment[1] if p.up_to is None or offset < p.up_to)
        total += price
    return total


@given(schedules(), st.integers(0, 3000), st.integers(0, 3000))
def test_range_cost_prices_each_unit_at_its_offset(
    schedule: tuple[Segment, ...], a: int, length: int
) -> None:
    assert range_cost(a, a + length, schedule) == _exact(a, a + length, schedule)


@given(
    st.integers(0, 4000),
    st.integers(0, 4000),
    step_lists(),
    schedules(),
    st.integers(0, 10**6),
    st.sampled_from(list(Rounding)),
    st.integers(0, 6),
    st.integers(1, 3600),
)
def test_call_cost_rounds_once(
    units: int,
    free: int,
    steps: tuple[Step, ...],
    schedule: tuple[Segment, ...],
    fee: int,
    method: Rounding,
    decimals: int,
    scale: int,
) -> None:
    terms = CallTerms(steps, fee, scale, decimals, method, 2)
    cost = call_cost(units, free, terms, schedule)
    rated = rated_units(units, steps)
    assert cost.rated == rated
    assert cost.free <= min(rated, free)
    assert floor_boundary(cost.free, steps) == cost.free
    exact = (fee if rated else 0) + range_cost(cost.free, rated, schedule)
    assert cost.scaled == exact
    # one rounding of the exact amount to the tariff's decimals, then to cents by the same rule
    at_tariff = round_div(exact, scale * 10 ** (6 - decimals), method)
    assert cost.at_tariff == at_tariff
    if decimals <= 2:
        assert cost.minor == at_tariff * 10 ** (2 - decimals)
    else:
        assert cost.minor == round_div(at_tariff, 10 ** (decimals - 2), method)


@given(st.integers(1, 4000), step_lists(), schedules(), st.integers(0, 10**8))
def test_disconnect_keeps_the_cost_within_the_cap(
    units: int, steps: tuple[Step, ...], schedule: tuple[Segment, ...], cap: int
) -> None:
    terms = CallTerms(steps, 0, 1, 6, Rounding.UP, 6, max_cost=cap, disconnect=True)
    cost = call_cost(units, 0, terms, schedule)
    assert cost.scaled <= cap
    assert floor_boundary(cost.rated, steps) == cost.rated
    if cost.capped:
        bigger = rated_units(cost.rated + 1, steps)
        assert bigger > units or range_cost(0, bigger, schedule) > cap
