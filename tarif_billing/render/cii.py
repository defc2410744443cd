"""The document as EN 16931 Cross Industry Invoice XML (UN/CEFACT CII D16B), for Factur-X.

Business terms (BT-n) follow EN 16931-1; the element order is the Factur-X 1.0 EN 16931 XSD's.
Notes on the mapping:
- Type code 380 for an invoice, 381 for a credit note (with BT-25, the invoice it corrects).
  A credit note carries positive amounts: the type code says they are owed to the buyer.
- A line with a negative price (a discount) is written as a negative quantity at a positive net
  price: EN 16931 forbids a negative item price (BR-27); the line net stays the same.
- Every quantity is in unit C62 ("one"): a usage line's quantity is a count of units rated.
- Prepaid (BT-113) is credit applied + paid, so BT-115 = BT-112 - BT-113 (BR-CO-16).
- Categories E, AE, K, G and O carry an exemption reason (BT-120), see `text.exemption_reason`;
  category O carries no rate (BR-O-05). EN 16931 also forbids mixing O with any other category
  on one document (BR-O-11): the document must not do that, the renderer does not check it.
  Such a document carries no VAT identifiers (BR-O-02).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from lxml import etree

from tarif_billing.document import Document, DocumentLine, Party
from tarif_billing.render.text import (
    RATELESS_CATEGORIES,
    address_lines,
    exemption_reason,
    plain,
    shows_vat_ids,
    trimmed,
)

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
NSMAP = {"rsm": RSM, "ram": RAM, "udt": UDT, "qdt": QDT}
EN16931 = "urn:cen.eu:en16931:2017"
TYPE_CODES = {"invoice": "380", "credit_note": "381"}
UNIT = "C62"  # UN/ECE Recommendation 20: one (a unit)
SEPA_CREDIT_TRANSFER = "58"
SEPA_DIRECT_DEBIT = "59"


def _el(
    parent: etree._Element, ns: str, tag: str, text: str | None = None, **attributes: str
) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ns}}}{tag}", attributes)
    if text is not None:
        element.text = text
    return element


def _ram(
    parent: etree._Element, tag: str, text: str | None = None, **attributes: str
) -> etree._Element:
    return _el(parent, RAM, tag, text, **attributes)


def _day(parent: etree._Element, tag: str, day: date) -> None:
    _el(_ram(parent, tag), UDT, "DateTimeString", day.strftime("%Y%m%d"), format="102")


def _period(parent: etree._Element, start: date | None, end: date | None) -> None:
    if start is None and end is None:
        return
    period = _ram(parent, "BillingSpecifiedPeriod")
    if start is not None:
        _day(period, "StartDateTime", start)
    if end is not None:
        _day(period, "EndDateTime", end)


def _party(parent: etree._Element, tag: str, party: Party, vat_id: bool) -> None:
    element = _ram(parent, tag)
    _ram(element, "Name", party.name)
    if party.company_id:
        legal = _ram(element, "SpecifiedLegalOrganization")
        _ram(legal, "ID", party.company_id)
    address = _ram(element, "PostalTradeAddress")
    if party.postcode:
        _ram(address, "PostcodeCode", party.postcode)
    street = address_lines(party.address)
    for tag_name, text in zip(("LineOne", "LineTwo"), street, strict=False):
        _ram(address, tag_name, text)
    if len(street) > 2:
        _ram(address, "LineThree", ", ".join(street[2:]))
    if party.city:
        _ram(address, "CityName", party.city)
    _ram(address, "CountryID", party.country)
    if party.email:
        uri = _ram(element, "URIUniversalCommunication")
        _ram(uri, "URIID", party.email, schemeID="EM")
    if party.vat_id and vat_id:
        registration = _ram(element, "SpecifiedTaxRegistration")
        _ram(registration, "ID", party.vat_id, schemeID="VA")


def billed(line: DocumentLine) -> tuple[Decimal, Decimal]:
    """(quantity, net price) as EN 16931 wants them: the price never negative (BR-27)."""
    if line.unit_price < 0:
        return -line.quantity, -line.unit_price
    return line.quantity, line.unit_price


def _line(parent: etree._Element, line: DocumentLine) -> None:
    item = _ram(parent, "IncludedSupplyChainTradeLineItem")
    _ram(_ram(item, "AssociatedDocumentLineDocument"), "LineID", str(line.number))
    _ram(_ram(item, "SpecifiedTradeProduct"), "Name", line.description)
    quantity, price = billed(line)
    agreement = _ram(item, "SpecifiedLineTradeAgreement")
    _ram(_ram(agreement, "NetPriceProductTradePrice"), "ChargeAmount", plain(price))
    delivery = _ram(item, "SpecifiedLineTradeDelivery")
    _ram(delivery, "BilledQuantity", trimmed(quantity), unitCode=UNIT)
    settlement = _ram(item, "SpecifiedLineTradeSettlement")
    tax = _ram(settlement, "ApplicableTradeTax")
    _ram(tax, "TypeCode", "VAT")
    _ram(tax, "CategoryCode", line.tax_category)
    if line.tax_category not in RATELESS_CATEGORIES:
        _ram(tax, "RateApplicablePercent", trimmed(line.tax_rate))
    _period(settlement, line.period_start, line.period_end)
    summation = _ram(settlement, "SpecifiedTradeSettlementLineMonetarySummation")
    _ram(summation, "LineTotalAmount", plain(line.net))


def _agreement(parent: etree._Element, document: Document) -> None:
    agreement = _ram(parent, "ApplicableHeaderTradeAgreement")
    if document.customer_account:
        _ram(agreement, "BuyerReference", document.customer_account)  # BT-10
    vat_ids = shows_vat_ids(document)
    _party(agreement, "SellerTradeParty", document.seller, vat_ids)
    _party(agreement, "BuyerTradeParty", document.buyer, vat_ids)


def _settlement(parent: etree._Element, document: Document) -> None:
    settlement = _ram(parent, "ApplicableHeaderTradeSettlement")
    _ram(settlement, "PaymentReference", document.number)  # BT-83
    _ram(settlement, "InvoiceCurrencyCode", document.currency)
    if document.mandate_reference:
        means = _ram(settlement, "SpecifiedTradeSettlementPaymentMeans")
        _ram(means, "TypeCode", SEPA_DIRECT_DEBIT)
    elif document.seller_iban:
        means = _ram(settlement, "SpecifiedTradeSettlementPaymentMeans")
        _ram(means, "TypeCode", SEPA_CREDIT_TRANSFER)
        _ram(_ram(means, "PayeePartyCreditorFinancialAccount"), "IBANID", document.seller_iban)
    for subtotal in document.taxes:
        tax = _ram(settlement, "ApplicableTradeTax")
        _ram(tax, "CalculatedAmount", plain(subtotal.tax))
        _ram(tax, "TypeCode", "VAT")
        reason = exemption_reason(document, subtotal.category)
        if reason:
            _ram(tax, "ExemptionReason", reason)
        _ram(tax, "BasisAmount", plain(subtotal.taxable))
        _ram(tax, "CategoryCode", subtotal.category)
        if subtotal.category not in RATELESS_CATEGORIES:
            _ram(tax, "RateApplicablePercent", trimmed(subtotal.rate))
    _period(settlement, document.period_start, document.period_end)
    terms = _ram(settlement, "SpecifiedTradePaymentTerms")
    if document.payment_terms:
        _ram(terms, "Description", document.payment_terms)
    _day(terms, "DueDateDateTime", document.due_date)
    if document.mandate_reference:
        _ram(terms, "DirectDebitMandateID", document.mandate_reference)
    money = _ram(settlement, "SpecifiedTradeSettlementHeaderMonetarySummation")
    _ram(money, "LineTotalAmount", plain(document.net_total))  # BT-106
    _ram(money, "TaxBasisTotalAmount", plain(document.net_total))  # BT-109
    _ram(money, "TaxTotalAmount", plain(document.tax_total), currencyID=document.currency)  # BT-110
    _ram(money, "GrandTotalAmount", plain(document.total))  # BT-112
    _ram(money, "TotalPrepaidAmount", plain(document.credit_applied + document.paid))  # BT-113
    _ram(money, "DuePayableAmount", plain(document.amount_due))  # BT-115
    if document.preceding_number:
        referenced = _ram(settlement, "InvoiceReferencedDocument")
        _ram(referenced, "IssuerAssignedID", document.preceding_number)  # BT-25


def cii_tree(document: Document) -> etree._Element:
    """The `rsm:CrossIndustryInvoice` element of `document`."""
    root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=NSMAP)
    context = _el(root, RSM, "ExchangedDocumentContext")
    _ram(_ram(context, "GuidelineSpecifiedDocumentContextParameter"), "ID", EN16931)
    header = _el(root, RSM, "ExchangedDocument")
    _ram(header, "ID", document.number)
    _ram(header, "TypeCode", TYPE_CODES[document.kind])
    _day(header, "IssueDateTime", document.issue_date)
    for note in document.notes:
        _ram(_ram(header, "IncludedNote"), "Content", note)
    transaction = _el(root, RSM, "SupplyChainTradeTransaction")
    for line in document.lines:
        _line(transaction, line)
    _agreement(transaction, document)
    _ram(transaction, "ApplicableHeaderTradeDelivery")
    _settlement(transaction, document)
    return root


def cii_xml(document: Document) -> bytes:
    """UTF-8 CII XML of `document`, with an XML declaration."""
    return etree.tostring(
        cii_tree(document), xml_declaration=True, encoding="UTF-8", pretty_print=True
    )
