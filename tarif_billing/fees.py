"""Product fees on bills: recurring fees per cycle (prorated), one-time fees once, and discounts.

Rules (docs/billing.md, "Fees"):
- A recurring fee is charged per billing cycle of the profile, **in advance** (a cycle's fee on
  the bill made at its start, so a run bills the next cycle) or **in arrears** (on the bill made
  at its end). What was charged is remembered as `billed_through`, so a fee is never charged twice.
- A partial cycle (a purchase made or cancelled mid-cycle, a bill made now) is prorated by time:
  price x (seconds of the part / seconds of the whole cycle), rounded once per line.
- Discounts are the purchase's own breakdown (`purchases.discounts`, made by the one discount
  function when it was bought): each is a negative line beside its fee, prorated alike; a
  coupon's lasts for its `cycles` charged periods (0: always).
- A cancelled purchase: arrears fees stop at the cancellation; advance fees are not refunded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from tarif_billing.cycles import CycleRule, cycle_at
from tarif_billing.money import to_minor

Timing = Literal["advance", "arrears"]


@dataclass(frozen=True, slots=True)
class Discount:
    source: str  # coupon, offer, ...
    id: str  # the coupon code, ...
    amount: Decimal  # per whole cycle (recurring) or once


@dataclass(frozen=True, slots=True)
class Purchase:
    id: int
    product: str
    quantity: int
    charge: Literal["one_off", "recurring"]
    list_price: Decimal  # unit price x quantity, per cycle for a recurring fee
    discounts: tuple[Discount, ...]
    created_at: datetime
    cancelled_at: datetime | None
    billed_through: datetime | None
    fee_cycles: int  # periods charged so far


@dataclass(frozen=True, slots=True)
class FeeLine:
    purchase_id: int
    source: str  # unique per bill
    kind: Literal["recurring", "one_time", "discount"]
    description: str
    amount: Decimal
    period_start: datetime | None
    period_end: datetime | None


@dataclass(frozen=True, slots=True)
class FeeTaking:
    lines: list[FeeLine]
    billed_through: datetime | None  # the purchase's new mark (None: unchanged)
    fee_cycles: int


def take_fees(
    purchase: Purchase,
    rule: CycleRule,
    *,
    advance_until: datetime,
    arrears_until: datetime,
    timing: Timing,
    coupon_cycles: Mapping[str, int],
    decimals: int,
) -> FeeTaking:
    """The fee lines of `purchase` not charged yet, up to the bill's limits."""
    if purchase.charge == "one_off":
        return _one_time(purchase, arrears_until, decimals)
    until = advance_until if timing == "advance" else arrears_until
    if purchase.cancelled_at is not None and timing == "arrears":
        until = min(until, purchase.cancelled_at)
    if purchase.cancelled_at is not None and timing == "advance":
        # advance fees of cycles that start after the cancellation are not charged
        until = min(until, cycle_at(rule, purchase.cancelled_at).end)
    start = purchase.billed_through or purchase.created_at
    lines: list[FeeLine] = []
    cycles = purchase.fee_cycles
    while start < until:
        cycle = cycle_at(rule, start)
        end = min(cycle.end, until)
        fraction = Decimal((end - start).total_seconds()) / Decimal(
            (cycle.end - cycle.start).total_seconds()
        )
        whole = start == cycle.start and end == cycle.end
        label = f"{purchase.product} x{purchase.quantity}" + ("" if whole else " (prorated)")
        key = start.isoformat()
        lines.append(
            FeeLine(
                purchase.id,
                f"fee:{purchase.id}:{key}",
                "recurring",
                label,
                to_minor(purchase.list_price * fraction, decimals),
                start,
                end,
            )
        )
        lines.extend(
            _discounts(purchase, cycles, coupon_cycles, fraction, key, decimals, start, end)
        )
        cycles += 1
        start = end
    if not lines:
        return FeeTaking([], None, purchase.fee_cycles)
    return FeeTaking(lines, start, cycles)


def _one_time(purchase: Purchase, until: datetime, decimals: int) -> FeeTaking:
    if purchase.billed_through is not None or purchase.created_at >= until:
        return FeeTaking([], None, purchase.fee_cycles)
    at = purchase.created_at
    lines = [
        FeeLine(
            purchase.id,
            f"once:{purchase.id}",
            "one_time",
            f"{purchase.product} x{purchase.quantity}",
            to_minor(purchase.list_price, decimals),
            at,
            None,
        ),
        *_discounts(purchase, 0, {}, Decimal(1), "once", decimals, at, None),
    ]
    return FeeTaking(lines, at, 1)


def _discounts(
    purchase: Purchase,
    cycle_index: int,
    coupon_cycles: Mapping[str, int],
    fraction: Decimal,
    key: str,
    decimals: int,
    start: datetime,
    end: datetime | None,
) -> Sequence[FeeLine]:
    lines = []
    for discount in purchase.discounts:
        if discount.source == "coupon":
            limit = coupon_cycles.get(discount.id, 0)
            if limit and cycle_index >= limit:
                continue
        amount = to_minor(discount.amount * fraction, decimals)
        if amount:
            lines.append(
                FeeLine(
                    purchase.id,
                    f"discount:{purchase.id}:{discount.source}:{discount.id}:{key}",
                    "discount",
                    f"{discount.source} {discount.id} on {purchase.product}",
                    -amount,
                    start,
                    end,
                )
            )
    return lines
