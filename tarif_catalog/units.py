"""Integer unit and price arithmetic: the one definition of what a call costs.

A Lua script in the balance store repeats these functions (tarif_balances/lua/lib.lua), so they
use only integer `+ - * //` and no floats. Lua 5.1 numbers are doubles, exact while every
intermediate stays below 2**53; `exact_limit` is that bound and the engine refuses to price a
call whose worst case could pass it.

Units and offsets. Usage is a non-negative integer of the service's unit (seconds, bytes,
events). An *offset* is a position in the call counted in that unit from its start (0 = the
first unit). Offsets, not money units, decide every price and increment.

Increments (`Step`). A rate's steps say how usage is rounded up: step k applies from offset
`start_k` (the first starts at 0) and rounds in whole `size_k` counted from `start_k`; every
step but the last has a length that is a multiple of its size, so rounding only ever happens in
the last step reached. `[first, next]` is `(Step(0, first), Step(first, next))`; "first 30 s per
second, then per 60 s" is `(Step(0, 1), Step(30, 60))`. The *boundaries* of a rate are the
offsets rounding can land on: 0, then every step edge. Free units are consumed only up to a
boundary, so a 60/60 tariff takes whole free minutes.

Prices (`UnitPrice`). A rate's price is piecewise constant by offset: each `UnitPrice` covers
offsets up to `up_to` (exclusive; None = open) with an integer price per *single unit* in
1/`scale` micro-units, where `scale` is the least common multiple of the tariff's `per` values,
so `n` units cost exactly `n * price` scaled micro-units: no rounding at all until the end.

Schedules. A call that crosses a time band is priced by a schedule: `(start offset, prices)`
segments, in offset order, the first at offset 0; offsets in `[start_k, start_k+1)` use the
prices of segment k. A price tier's `up_to` is an offset of the call, the same in every segment.

Rounding happens once per call (or once per session total): the exact scaled cost is rounded to
the tariff's decimals by its method, then to the currency's minor unit by the same method
(`to_currency`). Sessions are charged `cost(cumulative) - already charged`, so any split of a
session costs what the whole would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

EXACT_LIMIT = 2**53
"""Every integer the Lua scripts compute must stay below this (doubles are exact up to it)."""


class Rounding(StrEnum):
    """How an exact cost is rounded (once per call) to a tariff's decimals."""

    UP = "up"  # towards +infinity (never undercharges): the default
    HALF_UP = "half_up"  # to nearest, ties away from zero
    HALF_EVEN = "half_even"  # to nearest, ties to the even digit (banker's rounding)
    DOWN = "down"  # towards zero (never overcharges)


@dataclass(frozen=True, slots=True)
class Step:
    """Increments of `size` units counted from offset `start`."""

    start: int
    size: int


@dataclass(frozen=True, slots=True)
class UnitPrice:
    """Price of one unit at offsets below `up_to` (None: open), in 1/scale micro-units."""

    up_to: int | None
    price: int


Segment = tuple[int, Sequence[UnitPrice]]
"""(first offset, prices) of one piece of a call's schedule."""


def steps_of(first: int, nxt: int) -> tuple[Step, ...]:
    """The steps of the classic `[first, next]` increment."""
    if first == nxt:
        return (Step(0, first),)
    return (Step(0, first), Step(first, nxt))


def rated_units(units: int, steps: Sequence[Step]) -> int:
    """Usage rounded up to the increments: the smallest boundary at or above `units`.

    0 -> 0. With `[60, 60]`: 1..60 -> 60, 61 -> 120. With `(Step(0, 1), Step(30, 60))`:
    29 -> 29, 45 -> 90.
    """
    if units < 0:
        raise ValueError(f"units must not be negative, got {units}")
    if units == 0:
        return 0
    start, size = steps[-1].start, steps[-1].size
    for k in range(len(steps) - 1):
        if units <= steps[k + 1].start:
            start, size = steps[k].start, steps[k].size
            break
    return start + -(-(units - start) // size) * size


def floor_boundary(offset: int, steps: Sequence[Step]) -> int:
    """The largest boundary at or below `offset` (how far whole increments reach)."""
    if offset <= 0:
        return 0
    start, size = steps[-1].start, steps[-1].size
    for k in range(len(steps) - 1):
        if offset < steps[k + 1].start:
            start, size = steps[k].start, steps[k].size
            break
    return start + (offset - start) // size * size


def prices_cost(a: int, b: int, prices: Sequence[UnitPrice]) -> int:
    """Scaled cost of offsets [a, b) under one rate's prices."""
    total, lower = 0, 0
    for tier in prices:
        upper = b if tier.up_to is None else min(b, tier.up_to)
        n = upper - max(a, lower)
        if n > 0:
            total += n * tier.price
        if tier.up_to is None or tier.up_to >= b:
            break
        lower = tier.up_to
    return total


def range_cost(a: int, b: int, schedule: Sequence[Segment]) -> int:
    """Exact scaled cost of offsets [a, b) of a call priced by `schedule`.

    The cost of a range is the sum of the costs of its parts: `range_cost(a, c) ==
    range_cost(a, b) + range_cost(b, c)` for any `a <= b <= c`, which is what makes a split
    call cost the sum of its pieces before the one rounding.
    """
    total = 0
    for k, (start, prices) in enumerate(schedule):
        end = schedule[k + 1][0] if k + 1 < len(schedule) else None
        lo = max(a, start)
        hi = b if end is None else min(b, end)
        if hi > lo:
            total += prices_cost(lo, hi, prices)
        if end is None or end >= b:
            break
    return total


def round_div(n: int, d: int, method: Rounding) -> int:
    """`n / d` rounded to an integer by `method` (n >= 0, d > 0)."""
    q, r = divmod(n, d)
    if r == 0 or method is Rounding.DOWN:
        return q
    if method is Rounding.UP:
        return q + 1
    twice = 2 * r
    if twice > d or (twice == d and (method is Rounding.HALF_UP or q % 2 == 1)):
        return q + 1
    return q


def to_currency(
    scaled: int, scale: int, decimals: int, method: Rounding, currency_decimals: int
) -> tuple[int, int]:
    """Round an exact scaled cost once: (amount in 10**-decimals, amount in minor units).

    The first is the call's cost at the tariff's precision (e.g. 4 decimals for wholesale); the
    second what moves on the balance: the first rounded to the currency's minor unit by the same
    method (exact when the tariff has no more decimals than the currency).
    """
    at_tariff = round_div(scaled, scale * 10 ** (6 - decimals), method)
    if decimals <= currency_decimals:
        return at_tariff, at_tariff * 10 ** (currency_decimals - decimals)
    return at_tariff, round_div(at_tariff, 10 ** (decimals - currency_decimals), method)


@dataclass(frozen=True, slots=True)
class CallCost:
    """What one call (event, or a session's cumulative usage) is charged."""

    rated: int  # usage after increments (<= the usage when a cap disconnects)
    free: int  # of which covered by free units (a boundary)
    scaled: int  # exact money cost, scaled micro-units, connect fee and cap applied
    at_tariff: int  # rounded once, in 10**-tariff decimals
    minor: int  # what the money balance pays, in the currency's minor unit
    capped: bool  # the cap limited the cost (free) or the usage (disconnect)


@dataclass(frozen=True, slots=True)
class CallTerms:
    """Everything `call_cost` needs besides the schedule: the start rate's and tariff's terms."""

    steps: tuple[Step, ...]
    connect_fee: int  # scaled micro-units
    scale: int
    decimals: int  # the tariff's rounding decimals (0-6)
    method: Rounding
    currency_decimals: int
    max_cost: int | None = None  # scaled micro-units; None: no cap
    disconnect: bool = False  # at the cap: stop the call (True) or the rest is free (False)


def call_cost(
    units: int,
    free_available: int,
    terms: CallTerms,
    schedule: Sequence[Segment],
    waive_fee: bool = False,
) -> CallCost:
    """The reference pricing of one call, which the Lua scripts repeat.

    1. rated = `rated_units(units)`.
    2. Free units cover the call from its start, in whole increments: free =
       `floor_boundary(min(rated, free_available))`.
    3. Money covers offsets [free, rated): `range_cost(free, rated)`, plus the connect fee when
       anything is rated, unless `waive_fee` (the call's first unit was covered by free units of
       a bundle that waives it; the caller decides).
    4. A cap: with `disconnect` the call is cut at the largest boundary whose cost stays within
       the cap (rated and free shrink with it); otherwise the cost is the cap and the rest free.
    5. Round once (`to_currency`).
    """
    rated = rated_units(units, terms.steps)
    free = floor_boundary(min(rated, free_available), terms.steps)

    def money(upto: int, free_part: int) -> int:
        fee = terms.connect_fee if upto > 0 and not (waive_fee and free_part > 0) else 0
        return fee + range_cost(free_part, upto, schedule)

    scaled = money(rated, free)
    capped = False
    if terms.max_cost is not None and scaled > terms.max_cost:
        capped = True
        if terms.disconnect:
            lo, hi = 0, units  # the most usage whose cost stays within the cap
            while lo < hi:
                mid = (lo + hi + 1) // 2
                upto = rated_units(mid, terms.steps)
                if money(upto, min(free, upto)) <= terms.max_cost:
                    lo = mid
                else:
                    hi = mid - 1
            lo = rated_units(lo, terms.steps)
            rated, free = lo, min(free, lo)
            scaled = money(rated, free)
        else:
            scaled = terms.max_cost
    at_tariff, minor = to_currency(
        scaled, terms.scale, terms.decimals, terms.method, terms.currency_decimals
    )
    return CallCost(rated, free, scaled, at_tariff, minor, capped)
