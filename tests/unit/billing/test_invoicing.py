"""The invoice arithmetic: the rounding rule, totals that add up, postings that balance."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tarif_billing import journal
from tarif_billing.document import Party
from tarif_billing.invoicing import InvoiceNotIssuable, Item, Tax, draft_invoice, tax_names
from tarif_billing.money import TaxableLine, tax_breakdown, to_minor

SELLER = Party("Seller", "Street 1", "Ljubljana", "1000", "SI", vat_id="SI12345679")
TAXES = {
    "VAT22": Tax("VAT22", Decimal(22), "S"),
    "VAT9.5": Tax("VAT9.5", Decimal("9.5"), "S"),
    "ZERO": Tax("ZERO", Decimal(0), "Z"),
    "EXEMPT": Tax("EXEMPT", Decimal(0), "E", "Article 44"),
}


def test_to_minor_rounds_half_away_from_zero() -> None:
    assert to_minor(Decimal("0.125")) == Decimal("0.13")
    assert to_minor(Decimal("-0.125")) == Decimal("-0.13")
    assert to_minor(Decimal("0.124999")) == Decimal("0.12")
    assert to_minor(Decimal("12.5"), 0) == Decimal(13)


def test_vat_is_rounded_once_per_rate_not_per_line() -> None:
    # three lines of 0.05 at 22 %: per line 0.011 -> 0.01 each (0.03); on the sum 0.033 -> 0.03;
    # three lines of 0.03 at 22 %: per line 0.0066 -> 0.01 each (0.03); on the sum 0.0198 -> 0.02
    lines = [TaxableLine(Decimal("0.03"), "S", Decimal(22))] * 3
    (subtotal,) = tax_breakdown(lines)
    assert (subtotal.taxable, subtotal.tax) == (Decimal("0.09"), Decimal("0.02"))


def test_a_worked_invoice() -> None:
    items = [
        Item(1, "recurring", "monthly-fee", Decimal("9.99"), False, None, None),
        Item(2, "discount", "coupon", Decimal("-2.00"), False, None, None),
        Item(3, "usage", "voice", Decimal("1.234"), False, None, None),
        Item(4, "usage", "prepaid data", Decimal("5.00"), True, None, None),
        Item(5, "adjustment", "goodwill", Decimal("-1.00"), False, "EXEMPT", "goodwill"),
    ]
    draft = draft_invoice(
        items, TAXES, profile_tax="VAT22", credit_balance=Decimal("3.00"), seller=SELLER, decimals=2
    )
    assert [x.net for x in draft.lines] == [
        Decimal("9.99"),
        Decimal("-2.00"),
        Decimal("1.23"),
        Decimal("-1.00"),
    ]
    assert [(t.category, t.taxable, t.tax) for t in draft.taxes] == [
        ("E", Decimal("-1.00"), Decimal("0.00")),
        ("S", Decimal("9.22"), Decimal("2.03")),
    ]
    assert (draft.net_total, draft.tax_total, draft.total, draft.credit_applied) == (
        Decimal("8.22"),
        Decimal("2.03"),
        Decimal("10.25"),
        Decimal("3.00"),
    )
    assert draft.exemptions[("E", Decimal(0))] == "Article 44"


@pytest.mark.parametrize(
    ("profile_tax", "seller", "message"),
    [
        (None, SELLER, "no tax"),
        ("NOPE", SELLER, "unknown tax"),
        ("VAT22", Party("", "", "", "", ""), "seller"),
    ],
)
def test_an_invoice_that_cannot_be_issued_says_why(
    profile_tax: str | None, seller: Party, message: str
) -> None:
    items = [Item(1, "usage", "voice", Decimal(1), False, None, None)]
    with pytest.raises(InvoiceNotIssuable, match=message):
        draft_invoice(
            items,
            TAXES,
            profile_tax=profile_tax,
            credit_balance=Decimal(0),
            seller=seller,
            decimals=2,
        )


amounts = st.decimals(min_value=-1000, max_value=10000, places=4, allow_nan=False)
items_strategy = st.lists(
    st.tuples(
        amounts,
        st.sampled_from([None, "VAT22", "VAT9.5", "ZERO", "EXEMPT"]),
        st.sampled_from(["usage", "recurring", "discount", "adjustment", "transfer"]),
        st.booleans(),
    ),
    min_size=1,
    max_size=30,
)


@given(
    items_strategy, st.decimals(min_value=0, max_value=500, places=2), st.sampled_from([0, 2, 3])
)
def test_totals_always_add_up_and_postings_balance(
    raw: list[tuple[Decimal, str | None, str, bool]], credit: Decimal, decimals: int
) -> None:
    items = [
        Item(i + 1, kind, f"line {i}", amount, informational, tax, None)
        for i, (amount, tax, kind, informational) in enumerate(raw)
    ]
    draft = draft_invoice(
        items, TAXES, profile_tax="VAT22", credit_balance=credit, seller=SELLER, decimals=decimals
    )
    quantum = Decimal(1).scaleb(-decimals)
    assert all(x.net == x.net.quantize(quantum) for x in draft.lines)
    assert draft.net_total == sum((x.net for x in draft.lines), Decimal(0))
    assert draft.net_total == sum((t.taxable for t in draft.taxes), Decimal(0))
    assert draft.tax_total == sum((t.tax for t in draft.taxes), Decimal(0))
    assert draft.total == draft.net_total + draft.tax_total
    assert Decimal(0) <= draft.credit_applied <= max(draft.total, Decimal(0))
    assert draft.credit_applied <= credit
    for t in draft.taxes:
        assert t.tax == to_minor(t.taxable * t.rate / 100, decimals)
    legs = journal.invoice_legs(7, draft.lines, tax_names(draft))
    assert sum((x.debit for x in legs), Decimal(0)) == sum((x.credit for x in legs), Decimal(0))
    receivable = sum((x.debit - x.credit for x in legs if x.account == "receivable"), Decimal(0))
    assert receivable == draft.total
    reversed_legs = journal.invoice_legs(7, draft.lines, tax_names(draft), sign=-1)
    assert sum((x.debit for x in reversed_legs), Decimal(0)) == sum(
        (x.credit for x in reversed_legs), Decimal(0)
    )


@given(
    st.decimals(min_value=0, max_value=1000, places=2),
    st.decimals(min_value=0, max_value=1000, places=2),
    st.sampled_from(["cash", "transfer"]),
)
def test_payment_postings_balance(allocated: Decimal, to_credit: Decimal, method: str) -> None:
    for legs in (
        journal.payment_legs(1, method, allocated, to_credit),
        journal.refund_legs(1, method, allocated),
        journal.credit_applied_legs(1, to_credit),
        journal.transfer_legs(1, allocated),
        journal.excess_credit_legs(1, to_credit),
    ):
        assert sum((x.debit for x in legs), Decimal(0)) == sum((x.credit for x in legs), Decimal(0))
        assert all((x.debit == 0) != (x.credit == 0) for x in legs)
