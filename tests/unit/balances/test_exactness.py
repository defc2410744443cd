"""The engine's guard before Lua: an event is sent only when its worst case is exact in doubles."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from tarif_balances.ports import priced_exactly
from tarif_catalog import Piece, Quote, Step, UnitPrice, floor_boundary, rated_units
from tarif_catalog.units import EXACT_LIMIT
from tests.unit.engine.fakes import QUOTE

steps = st.sampled_from([(Step(0, 1),), (Step(0, 60),), (Step(0, 30), Step(30, 6)), (Step(0, 7),)])
prices = st.integers(0, 10**12)


@given(steps, prices, prices, st.integers(0, 10**15), st.integers(1, 2**53))
def test_the_guard_is_the_worst_case_below_2_53(
    step_list: tuple[Step, ...], first: int, second: int, fee: int, units: int
) -> None:
    base = replace(QUOTE.pricing, steps=step_list, connect_fee=fee,
                   prices=(UnitPrice(100, first), UnitPrice(None, 0)))  # fmt: skip
    other = replace(base, prices=(UnitPrice(None, second),))
    quote = Quote((Piece(0, "39", base), Piece(500, "39", other)))
    rated = rated_units(units, step_list)
    worst = rated * max(first, second) + fee
    assert priced_exactly(quote, units) == (rated < EXACT_LIMIT and worst < EXACT_LIMIT)
    alone = Quote((Piece(0, "39", base),))
    assert priced_exactly(alone, units) == (
        rated < EXACT_LIMIT and rated * first + fee < EXACT_LIMIT
    )


@given(steps, st.integers(1, 10**9), st.integers(0, 10**9))
def test_the_last_exact_usage_is_priced_and_the_next_is_refused(
    step_list: tuple[Step, ...], price: int, fee: int
) -> None:
    pricing = replace(QUOTE.pricing, steps=step_list, connect_fee=fee,
                      prices=(UnitPrice(None, price),))  # fmt: skip
    quote = Quote((Piece(0, "39", pricing),))
    most_rated = (EXACT_LIMIT - 1 - fee) // price
    last = floor_boundary(most_rated, step_list)  # rated_units(last) == last <= most_rated
    assert priced_exactly(quote, last)
    assert not priced_exactly(quote, last + 1)
    assert rated_units(last + 1, step_list) * price + fee >= EXACT_LIMIT
