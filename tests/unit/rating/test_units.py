"""The arithmetic of one call, on figures worked out by hand from the tariff."""

from __future__ import annotations

import pytest

from tarif_catalog import (
    CallTerms,
    Rounding,
    Step,
    UnitPrice,
    call_cost,
    floor_boundary,
    range_cost,
    rated_units,
    to_currency,
)
from tarif_catalog.units import round_div, steps_of

PER_MINUTE = steps_of(60, 60)
PER_SECOND = steps_of(1, 1)
FIRST_30_BY_SECOND = (Step(0, 1), Step(30, 60))


@pytest.mark.parametrize(
    ("units", "steps", "rated"),
    [
        (0, PER_MINUTE, 0),
        (1, PER_MINUTE, 60),
        (60, PER_MINUTE, 60),
        (61, PER_MINUTE, 120),
        (61, steps_of(60, 1), 61),
        (30, steps_of(60, 1), 60),
        (29, FIRST_30_BY_SECOND, 29),
        (30, FIRST_30_BY_SECOND, 30),
        (31, FIRST_30_BY_SECOND, 90),
        (91, FIRST_30_BY_SECOND, 150),
    ],
)
def test_rated_units(units: int, steps: tuple[Step, ...], rated: int) -> None:
    assert rated_units(units, steps) == rated


@pytest.mark.parametrize(
    ("offset", "steps", "boundary"),
    [
        (0, PER_MINUTE, 0),
        (59, PER_MINUTE, 0),
        (90, PER_MINUTE, 60),
        (120, PER_MINUTE, 120),
        (29, FIRST_30_BY_SECOND, 29),
        (89, FIRST_30_BY_SECOND, 30),
        (90, FIRST_30_BY_SECOND, 90),
        (59, steps_of(60, 1), 0),
        (75, steps_of(60, 1), 75),
    ],
)
def test_floor_boundary(offset: int, steps: tuple[Step, ...], boundary: int) -> None:
    assert floor_boundary(offset, steps) == boundary


def test_range_cost_over_tiers_and_segments() -> None:
    # 0.06/min for the first 120 s, then 0.03/min; at scale 60 one second costs 60,000 and
    # 30,000 sixtieths of a micro-unit (1,000 and 500 micro-units)
    day = (UnitPrice(120, 60_000), UnitPrice(None, 30_000))
    night = (UnitPrice(120, 30_000), UnitPrice(None, 15_000))
    assert range_cost(0, 180, [(0, day)]) == 60 * (120 * 1000 + 60 * 500)
    # the night starts at offset 100: 100 s day tier 1, 20 s night tier 1, 60 s night tier 2
    schedule = [(0, day), (100, night)]
    assert range_cost(0, 180, schedule) == 60 * (100 * 1000 + 20 * 500 + 60 * 250)
    assert range_cost(50, 150, schedule) == 60 * (50 * 1000 + 20 * 500 + 30 * 250)
    assert range_cost(0, 90, schedule) + range_cost(90, 180, schedule) == range_cost(
        0, 180, schedule
    )


@pytest.mark.parametrize(
    ("n", "d", "method", "q"),
    [
        (15, 10, Rounding.UP, 2),
        (15, 10, Rounding.DOWN, 1),
        (15, 10, Rounding.HALF_UP, 2),
        (15, 10, Rounding.HALF_EVEN, 2),
        (25, 10, Rounding.HALF_EVEN, 2),
        (25, 10, Rounding.HALF_UP, 3),
        (24, 10, Rounding.HALF_UP, 2),
        (26, 10, Rounding.HALF_EVEN, 3),
        (20, 10, Rounding.UP, 2),
    ],
)
def test_round_div(n: int, d: int, method: Rounding, q: int) -> None:
    assert round_div(n, d, method) == q


def test_to_currency_rounds_at_the_tariff_then_to_the_minor_unit() -> None:
    # 0.012345 EUR exactly (12345 micros, scale 1)
    assert to_currency(12_345, 1, 4, Rounding.HALF_UP, 2) == (123, 1)
    assert to_currency(12_345, 1, 4, Rounding.UP, 2) == (124, 2)
    assert to_currency(12_345, 1, 4, Rounding.DOWN, 2) == (123, 1)
    # 0.0150 at 4 decimals: half-up gives 0.02 EUR, half-even 0.02 (1 is odd), down 0.01
    assert to_currency(15_000, 1, 4, Rounding.HALF_UP, 2) == (150, 2)
    assert to_currency(15_000, 1, 4, Rounding.HALF_EVEN, 2) == (150, 2)
    assert to_currency(25_000, 1, 4, Rounding.HALF_EVEN, 2) == (250, 2)
    # fewer decimals than the currency: whole euros, exactly in cents
    assert to_currency(1_200_000, 1, 0, Rounding.HALF_UP, 2) == (1, 100)
    # scaled: 1/60 of a micro-unit per unit
    assert to_currency(60, 60, 6, Rounding.UP, 2) == (1, 1)


def _terms(**overrides: object) -> CallTerms:
    base: dict[str, object] = {
        "steps": PER_MINUTE,
        "connect_fee": 60 * 100_000,  # 0.10 EUR at scale 60
        "scale": 60,
        "decimals": 2,
        "method": Rounding.UP,
        "currency_decimals": 2,
    }
    base.update(overrides)
    return CallTerms(**base)  # type: ignore[arg-type]


EIGHT_CENTS = ((0, (UnitPrice(None, 80_000),)),)  # 0.08/min at scale 60 = 80,000/60 per second


def test_call_without_free_units() -> None:
    # 150 s at 0.08/min in 60 s steps: 180 s = 3 min = 0.24, plus 0.10 = 0.34
    cost = call_cost(150, 0, _terms(), EIGHT_CENTS)
    assert (cost.rated, cost.free, cost.minor) == (180, 0, 34)


def test_free_units_are_taken_in_whole_increments() -> None:
    # 90 free seconds left: one whole free minute, the other 2 minutes paid: 0.16 + 0.10
    cost = call_cost(150, 90, _terms(), EIGHT_CENTS)
    assert (cost.rated, cost.free, cost.minor) == (180, 60, 26)
    # the same with the connect fee waived by the bundle that gave the free minute: 0.16
    waived = call_cost(150, 90, _terms(), EIGHT_CENTS, waive_fee=True)
    assert waived.minor == 16
    # less than one increment free: nothing taken, nothing waived
    assert call_cost(150, 59, _terms(), EIGHT_CENTS, waive_fee=True).minor == 34


def test_cap_free_and_disconnect() -> None:
    # 10 min at 0.08 + 0.10 = 0.90; capped at 0.50
    cap = 60 * 500_000
    free_rest = call_cost(600, 0, _terms(max_cost=cap), EIGHT_CENTS)
    assert (free_rest.rated, free_rest.minor, free_rest.capped) == (600, 50, True)
    cut = call_cost(600, 0, _terms(max_cost=cap, disconnect=True), EIGHT_CENTS)
    # 0.10 + 5 x 0.08 = 0.50 fits, a 6th minute would not
    assert (cut.rated, cut.minor, cut.capped) == (300, 50, True)
    under = call_cost(120, 0, _terms(max_cost=cap, disconnect=True), EIGHT_CENTS)
    assert (under.rated, under.minor, under.capped) == (120, 26, False)
