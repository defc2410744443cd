"""Integer unit and price arithmetic, the one definition of what usage costs.

A Lua script in the balance store repeats these functions, so they use only integer `+ - * //`
and a ceiling division, with no floats and no rounding other than what is written here.
`ceil(a / b)` for non-negative integers is `(a + b - 1) // b`; the Lua side must keep it exact
(Lua 5.1 numbers are doubles: exact only while every intermediate stays below 2**53).

Amounts:
- usage and rated units are non-negative integers of the service's unit (seconds, bytes, events);
- prices are integer micro-units (1e-6 of the currency) per `per_units` units;
- costs are returned in the currency's minor unit (cents for EUR, yen for JPY), rounded up once.

Sessions are charged incrementally as `cost(cumulative usage) - already charged`, never by pricing
each report on its own, so the sum over any split of a session equals the cost of the whole
(no rounding drift); this is why every function here takes cumulative amounts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tarif_catalog.model import Tier


class Priced(Protocol):
    """What `cost_minor` needs from a `Pricing`."""

    @property
    def connect_fee_micros(self) -> int: ...
    @property
    def decimals(self) -> int: ...
    @property
    def tiers(self) -> tuple[Tier, ...]: ...


def _ceil_div(a: int, b: int) -> int:
    return (a + b - 1) // b


def rated_units(units: int, first: int, nxt: int) -> int:
    """Round usage up to the charging increments `[first, nxt]`.

    0 -> 0; 1..first -> first; above: `first + ceil((units - first) / nxt) * nxt`.
    E.g. 60/60 (per minute): 61 s -> 120 s; 1/1 (per second): unchanged.
    """
    if units < 0:
        raise ValueError(f"units must not be negative, got {units}")
    if units == 0:
        return 0
    if units <= first:
        return first
    return first + _ceil_div(units - first, nxt) * nxt


def tier_cost_micros(money_units: int, tiers: Sequence[Tier]) -> int:
    """Price of `money_units` cumulative units across `tiers`, in micro-units.

    Tier i covers the units in (previous `up_to`, `up_to`] (the first starts at 0, the last is
    open). For `n` units falling in a tier the cost is
    `(n // per) * price + ceil((n % per) * price / per)`, i.e. `ceil(n * price / per)` computed
    without the large product `n * price` (which could exceed 2**53 in Lua numbers), rounded up per
    tier; the tier costs are summed.
    """
    if money_units < 0:
        raise ValueError(f"money_units must not be negative, got {money_units}")
    total = 0
    lower = 0
    for tier in tiers:
        upper = money_units if tier.up_to is None else min(money_units, tier.up_to)
        n = upper - lower
        if n <= 0:
            break
        per, price = tier.per_units, tier.price_micros
        total += (n // per) * price + _ceil_div((n % per) * price, per)
        lower = upper
    return total


def to_minor(micros: int, decimals: int) -> int:
    """Micro-units to the currency's minor unit, rounded up: `ceil(micros / 10**(6 - decimals))`.

    This is the only rounding of money; 0.001667 EUR (decimals 2) is 1 cent.
    """
    if not 0 <= decimals <= 6:
        raise ValueError(f"decimals must be between 0 and 6, got {decimals}")
    return _ceil_div(micros, 10 ** (6 - decimals))


def cost_minor(money_units: int, rated: int, pricing: Priced) -> int:
    """Money owed for a session/event so far, in the currency's minor unit.

    `rated` is the cumulative rated units (after increments), `money_units` the part of them not
    covered by free resources. Returns
    `to_minor((connect_fee if rated > 0 else 0) + tier_cost_micros(money_units, tiers), decimals)`.
    The connect fee is due once as soon as anything is rated, even if free units cover it all.
    """
    if not 0 <= money_units <= rated:
        raise ValueError(f"need 0 <= money_units <= rated, got {money_units} and {rated}")
    fee = pricing.connect_fee_micros if rated > 0 else 0
    return to_minor(fee + tier_cost_micros(money_units, pricing.tiers), pricing.decimals)
