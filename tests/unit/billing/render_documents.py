"""Documents the render tests share: an invoice, a credit note, a multi-rate and exempt one."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import strategies as st

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


# Random documents for property tests: any mix of rates, discounts, credit and payments.
_RATES = st.sampled_from(
    [("S", "20"), ("S", "10"), ("S", "5.5"), ("S", "2.1"), ("Z", "0"), ("E", "0")]
)
_LINES = st.lists(
    st.tuples(
        st.decimals(min_value=0, max_value=10_000, places=3),
        st.decimals(min_value=-500, max_value=500, places=4),
        _RATES,
    ),
    min_size=1,
    max_size=8,
)
_CENTS = st.decimals(min_value=0, max_value=1_000, places=2)


@st.composite
def random_documents(draw: st.DrawFn) -> Document:
    lines = tuple(
        line(n, f"Line {n}", str(q), str(p), category=c, rate=r)
        for n, (q, p, (c, r)) in enumerate(draw(_LINES), start=1)
    )
    kind = draw(st.sampled_from(["invoice", "credit_note"]))
    made = document(
        lines,
        kind=kind,
        credit_applied=str(draw(_CENTS)),
        paid=str(draw(_CENTS)),
        preceding_number="INV-2026-000001" if kind == "credit_note" else "",
    )
    issued = draw(st.dates(date(2020, 1, 1), date(2040, 1, 1)))
    return dataclasses.replace(made, issue_date=issued, due_date=issued + timedelta(days=30))


def exempt_discount() -> Document:
    """A discount on an exempt line: its breakdown's tax rounds to a negative zero."""
    return document(
        (
            line(1, "Line rental", "1", "15.00"),
            line(2, "Postal services", "1", "3.40", category="E", rate="0"),
            line(3, "Postal discount", "1", "-5.00", category="E", rate="0", kind="discount"),
        )
    )
