"""The one rounding rule of bills and invoices (EN 16931).

- Every amount is a `Decimal` in the currency's unit, held to the currency's decimals (2 for EUR,
  0 for JPY): `to_minor` rounds half away from zero (ROUND_HALF_UP on the absolute value).
- A line's net amount is rounded once, when the line is made (quantity x unit price, prorating,
  discounts are computed at full precision first).
- VAT is computed per (category, rate) on the sum of that category's rounded line amounts, and
  rounded once: never per line, so the tax breakdown and the totals always add up.
- Totals are plain sums of rounded figures: net = sum(lines), tax = sum(breakdown),
  total = net + tax, amount due = total - credit applied - paid.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

HUNDRED = Decimal(100)


def to_minor(amount: Decimal, decimals: int = 2) -> Decimal:
    """`amount` rounded half away from zero to `decimals` places (never a negative zero)."""
    rounded = amount.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    return rounded if rounded else abs(rounded)


@dataclass(frozen=True, slots=True)
class TaxableLine:
    net: Decimal  # already rounded to the currency's decimals
    category: str  # UNTDID 5305: S standard, Z zero, E exempt, AE reverse charge, O outside scope
    rate: Decimal  # percent


@dataclass(frozen=True, slots=True)
class TaxSubtotal:
    category: str
    rate: Decimal
    taxable: Decimal
    tax: Decimal


def tax_breakdown(lines: Iterable[TaxableLine], decimals: int = 2) -> list[TaxSubtotal]:
    """VAT per (category, rate), each rounded once on the sum of its lines, in a stable order."""
    sums: dict[tuple[str, Decimal], Decimal] = {}
    for line in lines:
        key = (line.category, line.rate.normalize())
        sums[key] = sums.get(key, Decimal(0)) + line.net
    return [
        TaxSubtotal(category, rate, taxable, to_minor(taxable * rate / HUNDRED, decimals))
        for (category, rate), taxable in sorted(sums.items(), key=lambda kv: (kv[0][0], kv[0][1]))
    ]
