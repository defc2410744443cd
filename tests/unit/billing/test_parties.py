"""The buyer party of an invoice from a customer row, and the tax id check."""

from __future__ import annotations

from typing import Any

import pytest

from tarif_billing.document import Party
from tarif_billing.parties import buyer_party, check_tax_id

CUSTOMER: dict[str, Any] = {
    "first_name": "Ana",
    "last_name": "Novak",
    "full_name": "Ana Novak",
    "organisation": None,
    "address": "Slovenska cesta 1",
    "city": "Ljubljana",
    "postcode": "1000",
    "country": "SI",
    "email": "ana.novak@example.com",
    "payment_info": {"mandate_id": "M-1"},
}


def test_an_eu_vat_number_is_checked_and_kept_compact() -> None:
    assert check_tax_id(" de 136 695 976 ") == "DE136695976"
    assert check_tax_id("el094259216") == "EL094259216"
    with pytest.raises(ValueError, match="not a valid EU VAT number"):
        check_tax_id("DE136695977")  # wrong check digit
    with pytest.raises(ValueError, match="not a valid EU VAT number"):
        check_tax_id("FR32123456789")


def test_another_tax_id_is_kept_as_given_when_it_looks_like_one() -> None:
    assert check_tax_id("CHE-123.456.788") == "CHE-123.456.788"  # not an EU prefix
    assert check_tax_id("GB980780684") == "GB980780684"  # the UK left the EU VAT area
    for bad in ("!", "x", "<script>"):
        with pytest.raises(ValueError, match="a tax id is"):
            check_tax_id(bad)


def test_the_buyer_is_billed_at_its_own_address_without_a_billing_address() -> None:
    assert buyer_party(CUSTOMER) == Party(
        name="Ana Novak",
        address="Slovenska cesta 1",
        city="Ljubljana",
        postcode="1000",
        country="SI",
        email="ana.novak@example.com",
    )


def test_a_billing_address_and_tax_id_go_on_the_invoice() -> None:
    billed = {
        "billing_address": {
            "address_lines": ["ACME d.o.o.", "Dunajska 5"],
            "city": "Maribor",
            "country": "SI",
        },
        "tax_id": "DE136695976",
    }
    row = CUSTOMER | {"organisation": "ACME", "payment_info": billed}
    assert buyer_party(row) == Party(
        name="ACME",  # the organisation before the person
        address="ACME d.o.o., Dunajska 5",
        city="Maribor",
        postcode="",  # the billing address has none: not the customer's own
        country="SI",
        vat_id="DE136695976",
        email="ana.novak@example.com",
    )


def test_a_row_without_full_name_names_the_person() -> None:
    row = {k: v for k, v in CUSTOMER.items() if k != "full_name"} | {"payment_info": None}
    assert buyer_party(row).name == "Ana Novak"
