"""Documents the render tests share: an invoice, a credit note, a multi-rate and exempt one."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tarif_billing.document import Document, DocumentLine, Party
from tarif_billing.money import TaxableLine, tax_breakdown, to_minor

SELLER = Party(
    name="Tarif Telecom SAS",
    address="12 rue des Lilas\nBâtiment B",
    city="Lyon",
    postcode="69003",
    country="FR",
    vat_id="FR32123456789",
    company_id="123456789",
    email="billing@tarif.example",
)
BUYER = Party(
    name="Émile & Fils <SARL>",
    address="4 place Bellecour",
    city="Lyon",
    postcode="69002",
    country="FR",
    vat_id="FR45987654321",
    email="compta@emile.example",
)


def line(
    number: int,
    description: str,
    quantity: str,
    unit_price: str,
    category: str = "S",
    rate: str = "20",
    kind: str = "fee",
) -> DocumentLine:
    q, p = Decimal(quantity), Decimal(unit_price)
    return DocumentLine(
        number=number,
        description=description,
        quantity=q,
        unit_price=p,
        net=to_minor(q * p),
        tax_category=category,
        tax_rate=Decimal(rate),
        kind=kind,
    )


def document(
    lines: tuple[DocumentLine, ...],
    *,
    kind: str = "invoice",
    number: str = "INV-2026-000042",
    credit_applied: str = "0.00",
    paid: str = "0.00",
    preceding_number: str = "",
    **extra: object,
) -> Document:
    """A document whose taxes and totals follow the rule of `tarif_billing.money`."""
    taxes = tuple(tax_breakdown(TaxableLine(x.net, x.tax_category, x.tax_rate) for x in lines))
    net = sum((x.net for x in lines), Decimal("0.00"))
    tax = sum((t.tax for t in taxes), Decimal("0.00"))
    total = net + tax
    credit, paid_amount = Decimal(credit_applied), Decimal(paid)
    return Document(
        kind=kind,  # type: ignore[arg-type]
        number=number,
        issue_date=date(2026, 11, 1),
        due_date=date(2026, 12, 1),
        currency="EUR",
        seller=SELLER,
        buyer=BUYER,
        lines=lines,
        taxes=taxes,
        net_total=net,
        tax_total=tax,
        total=total,
        credit_applied=credit,
        paid=paid_amount,
        amount_due=total - credit - paid_amount,
        period_start=date(2026, 10, 1),
        period_end=date(2026, 10, 31),
        customer_account="ACC-0042",
        preceding_number=preceding_number,
        payment_terms="Due within 30 days",
        seller_iban="FR7630006000011234567890189",
        **extra,  # type: ignore[arg-type]
    )


def invoice() -> Document:
    return document(
        (
            line(1, "Monthly plan Pro", "1", "29.99", kind="recurring"),
            line(2, "Voice calls, national (minutes)", "312", "0.0125", kind="usage"),
            line(3, "Loyalty discount", "1", "-5.00", kind="discount"),
        ),
        credit_applied="3.00",
        paid="10.00",
        notes=("Transferred to account 42",),
    )


def credit_note() -> Document:
    return document(
        (line(1, "Refund: overcharged roaming", "1", "12.50", kind="adjustment"),),
        kind="credit_note",
        number="CN-2026-000007",
        preceding_number="INV-2026-000042",
    )


def multi_rate() -> Document:
    return document(
        (
            line(1, "Mobile plan", "2", "19.90"),
            line(2, "Press bundle", "1", "4.99", rate="5.5"),
            line(3, "Newspaper app", "3", "1.99", rate="2.1"),
            line(4, "Emergency calls", "4", "0.00", category="Z", rate="0"),
        )
    )


def exempt() -> Document:
    return document(
        (
            line(1, "Line rental", "1", "15.00"),
            line(2, "Postal services", "2", "3.40", category="E", rate="0"),
        ),
        exemption_reasons=(("E", "Article 261 C CGI: exempt"),),
    )


def outside_scope() -> Document:
    """Only "not subject to VAT" lines: EN 16931 forbids mixing O with other categories."""
    return document(
        (
            line(1, "Roaming pack, used outside the EU", "1", "7.00", category="O", rate="0"),
            line(2, "Goodwill", "1", "-2.00", category="O", rate="0", kind="discount"),
        )
    )
