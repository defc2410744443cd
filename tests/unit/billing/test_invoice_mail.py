"""The words and attachment of an invoice's e-mail: the built-in template for invoices and
credit notes, an operator's template (Postgres before TARIF_TEMPLATES_DIR before built-in), a
broken one refused with its reason, the Factur-X PDF attached."""

from __future__ import annotations

from pathlib import Path

import pytest

from tarif_billing.document import Document
from tarif_billing.emails import InvoiceMails, TemplateBroken, again_key, invoice_pdf, issued_key
from tarif_billing.render import render

from .render_documents import credit_note, invoice

NAME = "invoice_issued.email.j2"


def test_the_builtin_words_of_an_invoice_and_a_credit_note() -> None:
    mails = InvoiceMails(None, {})
    doc = invoice()
    pdf = invoice_pdf(doc)
    subject, text = mails.words(doc, pdf)
    assert subject == f"Invoice {doc.number} from {doc.seller.name}"
    assert f"Hello {doc.buyer.name}," in text
    assert f"Total: {doc.total} {doc.currency}" in text
    assert f"Amount due: {doc.amount_due} {doc.currency} by {doc.due_date.isoformat()}" in text
    assert f"The attached PDF is {doc.number}.pdf, a Factur-X invoice" in text
    note = credit_note()
    subject, text = mails.words(note, invoice_pdf(note))
    assert subject == f"Credit note {note.number} from {note.seller.name}"
    assert f"which corrects invoice {note.preceding_number}" in text
    assert "Amount due" not in text


def test_the_attachment_is_the_facturx_pdf_named_after_the_number() -> None:
    doc = invoice()
    pdf = invoice_pdf(doc)
    assert (pdf.filename, pdf.facturx) == (f"{doc.number}.pdf", True)
    assert pdf.content.startswith(b"%PDF-1.7")
    assert b"factur-x.xml" in pdf.content


def test_a_document_the_facturx_schema_refuses_goes_as_the_plain_pdf(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tarif_billing import emails

    def refusing(document: Document, fmt: str) -> bytes:
        if fmt == "facturx":  # what render_facturx raises for an XML its XSD refuses
            raise ValueError("the Factur-X XML is not valid against the official XML Schema")
        return render(document, fmt)

    monkeypatch.setattr(emails, "render", refusing)
    doc = invoice()
    pdf = invoice_pdf(doc)
    assert (pdf.filename, pdf.facturx) == (f"{doc.number}.pdf", False)
    assert pdf.content.startswith(b"%PDF")
    assert b"factur-x.xml" not in pdf.content


def test_an_operator_template_replaces_the_builtin_one(tmp_path: Path) -> None:
    (tmp_path / NAME).write_text("Subject: From the directory {{ doc.number }}\n\nBody\n")
    doc = invoice()
    pdf = invoice_pdf(doc)
    assert InvoiceMails(tmp_path, {}).words(doc, pdf) == (
        f"From the directory {doc.number}",
        "Body\n",
    )
    stored = {NAME: "Subject: From Postgres\n{{ doc.totals.amount_due }}"}
    assert InvoiceMails(tmp_path, stored).words(doc, pdf) == ("From Postgres", str(doc.amount_due))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("Subject: {{ doc.no_such_field }}\n", "no_such_field"),
        ("Hello\n", "must start with 'Subject: ...'"),
        ("Subject: {% if %}\n", "invoice_issued.email"),
    ],
)
def test_a_broken_template_is_refused_with_its_reason(body: str, reason: str) -> None:
    doc = invoice()
    with pytest.raises(TemplateBroken) as caught:
        InvoiceMails(None, {NAME: body}).words(doc, invoice_pdf(doc))
    assert reason in caught.value.message


def test_message_keys() -> None:
    from datetime import UTC, datetime

    assert issued_key(17) == "invoice:17:issued"
    at = datetime(2026, 12, 1, 9, 30, 1, 5, tzinfo=UTC)
    assert again_key(17, at) == "invoice:17:again:20261201T093001000005"
