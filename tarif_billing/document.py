"""The invoice (or credit note) as the customer sees it: what every renderer takes.

Built from the stored, issued invoice (or from a preview) and never from live data, so a
document rendered twice is the same document. All amounts are `Decimal`s already rounded by the
rule of `tarif_billing.money`; `net_total`, `tax_total`, `total` and `amount_due` add up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from tarif_billing.money import TaxSubtotal

DocumentKind = Literal["invoice", "credit_note"]


@dataclass(frozen=True, slots=True)
class Party:
    """Seller (from settings) or buyer (the customer and their payment info)."""

    name: str
    address: str
    city: str
    postcode: str
    country: str  # ISO 3166-1 alpha-2
    vat_id: str = ""  # e.g. FR32123456789; empty when none
    company_id: str = ""  # legal registration (SIREN, ...); empty when none
    email: str = ""


@dataclass(frozen=True, slots=True)
class DocumentLine:
    number: int  # 1, 2, ... in document order
    description: str
    quantity: Decimal
    unit_price: Decimal  # net, may carry more decimals than the currency
    net: Decimal  # quantity x unit price, rounded; negative for a discount or credit
    tax_category: str  # UNTDID 5305 (S, Z, E, AE, O)
    tax_rate: Decimal  # percent
    kind: str = "fee"  # usage, recurring, one_time, discount, adjustment, transfer
    period_start: date | None = None
    period_end: date | None = None  # inclusive last day, as on paper


@dataclass(frozen=True, slots=True)
class Document:
    kind: DocumentKind
    number: str  # gapless per series, e.g. INV-2026-000042
    issue_date: date
    due_date: date
    currency: str
    seller: Party
    buyer: Party
    lines: tuple[DocumentLine, ...]
    taxes: tuple[TaxSubtotal, ...]
    net_total: Decimal
    tax_total: Decimal
    total: Decimal
    credit_applied: Decimal  # the profile's credit balance used by this invoice
    paid: Decimal
    amount_due: Decimal
    period_start: date | None = None
    period_end: date | None = None  # inclusive
    customer_account: str = ""  # the account number people see
    preceding_number: str = ""  # a credit note: the invoice it corrects
    payment_terms: str = ""  # e.g. "Due within 30 days"
    seller_iban: str = ""  # where a transfer goes, if the seller set one
    mandate_reference: str = ""  # SEPA direct debit: the buyer's mandate
    notes: tuple[str, ...] = field(default_factory=tuple)  # e.g. "Transferred to account 42"
    # (category, reason) written beside an exempt category's VAT breakdown (EN 16931 BT-120);
    # categories not named here get the wording of `tarif_billing.render.text`
    exemption_reasons: tuple[tuple[str, str], ...] = field(default_factory=tuple)
