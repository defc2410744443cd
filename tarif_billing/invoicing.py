"""From a billed bill's items to an invoice: lines, VAT breakdown, totals, credit used.

Pure: the caller reads the items, the taxes and the parties, and stores what this returns. The
figures follow `tarif_billing.money` (lines rounded once, VAT per category on the sum of its
lines). A draft that cannot be a lawful invoice (no seller identity, a charge with no tax, an
unknown tax) raises `InvoiceNotIssuable`: the caller records the invoice as failed, with that
reason, and makes it again once the data is fixed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from tarif_billing.document import Party
from tarif_billing.money import TaxableLine, TaxSubtotal, tax_breakdown, to_minor
from tarif_common.errors import TarifError

ZERO = Decimal(0)
# Kinds in the order lines appear on the invoice.
_ORDER = {"recurring": 0, "one_time": 1, "discount": 2, "usage": 3, "adjustment": 4, "transfer": 5}


class InvoiceNotIssuable(TarifError):
    """The invoice cannot be issued until its data is fixed."""


@dataclass(frozen=True, slots=True)
class Tax:
    name: str
    rate: Decimal  # percent
    category: str  # UNTDID 5305
    exemption_reason: str = ""


@dataclass(frozen=True, slots=True)
class Item:
    """A bill item as the invoice needs it."""

    id: int
    kind: str
    description: str
    amount: Decimal
    informational: bool
    tax: str | None  # the item's own tax; None: the profile's
    ledger: str | None
    period_start: date | None = None
    period_end: date | None = None  # inclusive


@dataclass(frozen=True, slots=True)
class DraftLine:
    number: int
    kind: str
    description: str
    net: Decimal
    tax: str
    category: str
    rate: Decimal
    ledger: str | None
    bill_item_id: int | None
    period_start: date | None
    period_end: date | None


@dataclass(frozen=True, slots=True)
class Draft:
    lines: list[DraftLine]
    taxes: list[TaxSubtotal]
    exemptions: dict[tuple[str, Decimal], str]
    net_total: Decimal
    tax_total: Decimal
    total: Decimal
    credit_applied: Decimal


# A transfer line carries a member's invoice, already taxed there: outside the scope of VAT here.
TRANSFER_TAX = Tax("transfer", ZERO, "O", "Invoice of a hierarchy member, taxed on its own invoice")


def draft_invoice(
    items: Sequence[Item],
    taxes: Mapping[str, Tax],
    *,
    profile_tax: str | None,
    credit_balance: Decimal,
    seller: Party,
    decimals: int,
) -> Draft:
    """The invoice of `items` (informational ones are left out: they are not due)."""
    if not (seller.name and seller.address and seller.city and seller.country):
        raise InvoiceNotIssuable(
            "the seller's identity is not set: TARIF_SELLER_NAME, TARIF_SELLER_ADDRESS, "
            "TARIF_SELLER_CITY and TARIF_SELLER_COUNTRY are required on an invoice"
        )
    due = sorted(
        (i for i in items if not i.informational and i.kind != "tax"),
        key=lambda i: (_ORDER.get(i.kind, 9), i.id),
    )
    lines: list[DraftLine] = []
    for number, item in enumerate(due, start=1):
        tax = TRANSFER_TAX if item.kind == "transfer" else _tax_of(item, taxes, profile_tax)
        lines.append(
            DraftLine(
                number,
                item.kind,
                item.description,
                to_minor(item.amount, decimals),
                tax.name,
                tax.category,
                tax.rate,
                item.ledger,
                item.id or None,
                item.period_start,
                item.period_end,
            )
        )
    breakdown = tax_breakdown((TaxableLine(x.net, x.category, x.rate) for x in lines), decimals)
    exemptions = {
        (x.category, x.rate.normalize()): _reason(x, taxes)
        for x in lines
        if x.category not in ("S",)
    }
    net_total = sum((x.net for x in lines), ZERO)
    tax_total = sum((t.tax for t in breakdown), ZERO)
    total = net_total + tax_total
    credit = min(credit_balance, total) if total > 0 else ZERO
    return Draft(lines, breakdown, exemptions, net_total, tax_total, total, max(credit, ZERO))


def _tax_of(item: Item, taxes: Mapping[str, Tax], profile_tax: str | None) -> Tax:
    name = item.tax or profile_tax
    if name is None:
        raise InvoiceNotIssuable(
            f"no tax for {item.description!r}: set the billing profile's tax or TARIF_DEFAULT_TAX"
        )
    tax = taxes.get(name)
    if tax is None:
        raise InvoiceNotIssuable(f"unknown tax {name!r} on {item.description!r}")
    return tax


def _reason(line: DraftLine, taxes: Mapping[str, Tax]) -> str:
    if line.kind == "transfer":
        return TRANSFER_TAX.exemption_reason
    tax = taxes.get(line.tax)
    return tax.exemption_reason if tax else ""


def tax_names(d: Draft) -> list[tuple[str, Any]]:
    """Each VAT subtotal with the tax it is payable to (the first line's tax of its rate)."""
    names: dict[tuple[str, Decimal], str] = {}
    for x in d.lines:
        names.setdefault((x.category, x.rate.normalize()), x.tax)
    return [(names[(t.category, t.rate.normalize())], t) for t in d.taxes]
