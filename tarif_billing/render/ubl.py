"""The document as UBL 2.1 Invoice or CreditNote XML, EN 16931 core (`urn:cen.eu:en16931:2017`).

The same mapping as `cii` (a discount as a negative quantity at a positive price, unit C62,
prepaid = credit applied + paid, exemption reasons), in UBL's element order. A UBL 2.1
CreditNote has no DueDate: EN 16931 puts BT-9 in PaymentMeans/PaymentDueDate instead.
"""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from tarif_billing.document import Document, DocumentLine, Party
from tarif_billing.render.cii import (
    EN16931,
    SEPA_CREDIT_TRANSFER,
    SEPA_DIRECT_DEBIT,
    TYPE_CODES,
    UNIT,
    billed,
)
from tarif_billing.render.text import (
    RATELESS_CATEGORIES,
    address_lines,
    exemption_reason,
    plain,
    shows_vat_ids,
    trimmed,
)

CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
ROOTS = {
    "invoice": ("Invoice", "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"),
    "credit_note": ("CreditNote", "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"),
}


class _Builder:
    def __init__(self, currency: str) -> None:
        self.currency = currency

    def cac(self, parent: etree._Element, tag: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{CAC}}}{tag}")

    def cbc(self, parent: etree._Element, tag: str, text: str, **attrs: str) -> etree._Element:
        element = etree.SubElement(parent, f"{{{CBC}}}{tag}", attrs)
        element.text = text
        return element

    def amount(self, parent: etree._Element, tag: str, value: Decimal) -> etree._Element:
        return self.cbc(parent, tag, plain(value), currencyID=self.currency)

    def tax_scheme(self, parent: etree._Element) -> None:
        self.cbc(self.cac(parent, "TaxScheme"), "ID", "VAT")

    def period(self, parent: etree._Element, document: Document | DocumentLine) -> None:
        if document.period_start is None and document.period_end is None:
            return
        period = self.cac(parent, "InvoicePeriod")
        if document.period_start is not None:
            self.cbc(period, "StartDate", document.period_start.isoformat())
        if document.period_end is not None:
            self.cbc(period, "EndDate", document.period_end.isoformat())

    def party(self, parent: etree._Element, tag: str, party: Party, vat_id: bool) -> None:
        element = self.cac(self.cac(parent, tag), "Party")
        self.cbc(self.cac(element, "PartyName"), "Name", party.name)
        address = self.cac(element, "PostalAddress")
        street = address_lines(party.address)
        if street:
            self.cbc(address, "StreetName", street[0])
        if len(street) > 1:
            self.cbc(address, "AdditionalStreetName", ", ".join(street[1:]))
        if party.city:
            self.cbc(address, "CityName", party.city)
        if party.postcode:
            self.cbc(address, "PostalZone", party.postcode)
        self.cbc(self.cac(address, "Country"), "IdentificationCode", party.country)
        if party.vat_id and vat_id:
            scheme = self.cac(element, "PartyTaxScheme")
            self.cbc(scheme, "CompanyID", party.vat_id)
            self.tax_scheme(scheme)
        legal = self.cac(element, "PartyLegalEntity")
        self.cbc(legal, "RegistrationName", party.name)
        if party.company_id:
            self.cbc(legal, "CompanyID", party.company_id)
        if party.email:
            self.cbc(self.cac(element, "Contact"), "ElectronicMail", party.email)

    def payment(self, root: etree._Element, document: Document) -> None:
        credit_note = document.kind == "credit_note"
        if document.mandate_reference or document.seller_iban:
            means = self.cac(root, "PaymentMeans")
            direct_debit = bool(document.mandate_reference)
            self.cbc(
                means,
                "PaymentMeansCode",
                SEPA_DIRECT_DEBIT if direct_debit else SEPA_CREDIT_TRANSFER,
            )
            if credit_note:
                self.cbc(means, "PaymentDueDate", document.due_date.isoformat())
            self.cbc(means, "PaymentID", document.number)
            if direct_debit:
                self.cbc(self.cac(means, "PaymentMandate"), "ID", document.mandate_reference)
            else:
                self.cbc(self.cac(means, "PayeeFinancialAccount"), "ID", document.seller_iban)
        if document.payment_terms:
            self.cbc(self.cac(root, "PaymentTerms"), "Note", document.payment_terms)

    def taxes(self, root: etree._Element, document: Document) -> None:
        total = self.cac(root, "TaxTotal")
        self.amount(total, "TaxAmount", document.tax_total)
        for subtotal in document.taxes:
            element = self.cac(total, "TaxSubtotal")
            self.amount(element, "TaxableAmount", subtotal.taxable)
            self.amount(element, "TaxAmount", subtotal.tax)
            category = self.cac(element, "TaxCategory")
            self.cbc(category, "ID", subtotal.category)
            if subtotal.category not in RATELESS_CATEGORIES:
                self.cbc(category, "Percent", trimmed(subtotal.rate))
            reason = exemption_reason(document, subtotal.category)
            if reason:
                self.cbc(category, "TaxExemptionReason", reason)
            self.tax_scheme(category)

    def totals(self, root: etree._Element, document: Document) -> None:
        money = self.cac(root, "LegalMonetaryTotal")
        self.amount(money, "LineExtensionAmount", document.net_total)  # BT-106
        self.amount(money, "TaxExclusiveAmount", document.net_total)  # BT-109
        self.amount(money, "TaxInclusiveAmount", document.total)  # BT-112
        self.amount(money, "PrepaidAmount", document.credit_applied + document.paid)  # BT-113
        self.amount(money, "PayableAmount", document.amount_due)  # BT-115

    def line(self, root: etree._Element, tag: str, line: DocumentLine) -> None:
        element = self.cac(root, f"{tag}Line")
        self.cbc(element, "ID", str(line.number))
        quantity, price = billed(line)
        quantity_tag = "CreditedQuantity" if tag == "CreditNote" else "InvoicedQuantity"
        self.cbc(element, quantity_tag, trimmed(quantity), unitCode=UNIT)
        self.amount(element, "LineExtensionAmount", line.net)
        self.period(element, line)
        item = self.cac(element, "Item")
        self.cbc(item, "Name", line.description)
        category = self.cac(item, "ClassifiedTaxCategory")
        self.cbc(category, "ID", line.tax_category)
        if line.tax_category not in RATELESS_CATEGORIES:
            self.cbc(category, "Percent", trimmed(line.tax_rate))
        self.tax_scheme(category)
        self.amount(self.cac(element, "Price"), "PriceAmount", price)


def ubl_tree(document: Document) -> etree._Element:
    """The UBL `Invoice` or `CreditNote` element of `document`."""
    tag, namespace = ROOTS[document.kind]
    nsmap: dict[str | None, str] = {None: namespace, "cac": CAC, "cbc": CBC}
    # lxml takes None as the default namespace's prefix; lxml-stubs do not know it
    root = etree.Element(f"{{{namespace}}}{tag}", nsmap=nsmap)  # type: ignore[arg-type]
    ubl = _Builder(document.currency)
    ubl.cbc(root, "CustomizationID", EN16931)
    ubl.cbc(root, "ID", document.number)
    ubl.cbc(root, "IssueDate", document.issue_date.isoformat())
    if document.kind == "invoice":
        ubl.cbc(root, "DueDate", document.due_date.isoformat())
    ubl.cbc(root, f"{tag}TypeCode", TYPE_CODES[document.kind])
    for note in document.notes:
        ubl.cbc(root, "Note", note)
    ubl.cbc(root, "DocumentCurrencyCode", document.currency)
    if document.customer_account:
        ubl.cbc(root, "BuyerReference", document.customer_account)
    ubl.period(root, document)
    if document.preceding_number:
        reference = ubl.cac(ubl.cac(root, "BillingReference"), "InvoiceDocumentReference")
        ubl.cbc(reference, "ID", document.preceding_number)
    vat_ids = shows_vat_ids(document)
    ubl.party(root, "AccountingSupplierParty", document.seller, vat_ids)
    ubl.party(root, "AccountingCustomerParty", document.buyer, vat_ids)
    ubl.payment(root, document)
    ubl.taxes(root, document)
    ubl.totals(root, document)
    for line in document.lines:
        ubl.line(root, tag, line)
    return root


def ubl_xml(document: Document) -> bytes:
    """UTF-8 UBL 2.1 XML of `document`, with an XML declaration."""
    return etree.tostring(
        ubl_tree(document), xml_declaration=True, encoding="UTF-8", pretty_print=True
    )
