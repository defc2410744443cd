"""The HTML page: its content, escaping, and an operator's template taking its place."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jinja2
import pytest

from tarif_billing.render.html_page import render_html
from tarif_billing.render.pdf_page import DASH
from tests.unit.billing.render_documents import credit_note, exempt, invoice


def test_shows_the_whole_invoice() -> None:
    page = render_html(invoice())
    for text in (
        "Invoice INV-2026-000042",
        "Tarif Telecom SAS",
        "FR32123456789",
        "2026-11-01",
        "2026-12-01",
        f"2026-10-01 {DASH} 2026-10-31",
        "Monthly plan Pro",
        "Voice calls, national (minutes)",
        "Loyalty discount",
        "-5.00",
        "Standard rate",
        "5.78",
        "34.67 EUR",
        "3.00 EUR",  # credit applied
        "10.00 EUR",  # paid
        "<th>Amount due</th>",
        "21.67 EUR",  # amount due
        "Due within 30 days",
        "FR7630006000011234567890189",
        "Transferred to account 42",
    ):
        assert text in page, text


def test_a_credit_note_names_the_invoice_it_corrects() -> None:
    page = render_html(credit_note())
    assert "Credit note CN-2026-000007" in page
    assert 'class="preceding">INV-2026-000042<' in page
    assert "<th>Amount credited</th>" in page
    assert "Pay by transfer" not in page


def test_exempt_breakdown_shows_its_reason() -> None:
    assert "Exempt from VAT (Article 261 C CGI: exempt)" in render_html(exempt())


def test_customer_text_is_escaped() -> None:
    document = invoice()
    hostile = dataclasses.replace(document.lines[0], description='<script>alert("x")</script>')
    page = render_html(dataclasses.replace(document, lines=(hostile, *document.lines[1:])))
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "Émile &amp; Fils &lt;SARL&gt;" in page


def test_an_operator_template_replaces_the_built_in_one(tmp_path: Path) -> None:
    (tmp_path / "invoice.html.j2").write_text(
        "<p>{{ doc.number }} owes {{ doc.totals.amount_due }} {{ doc.buyer.name }}</p>"
    )
    page = render_html(invoice(), tmp_path)
    assert page == "<p>INV-2026-000042 owes 21.67 Émile &amp; Fils &lt;SARL&gt;</p>"


def test_a_directory_without_the_template_falls_back_to_the_built_in_one(
    tmp_path: Path,
) -> None:
    assert render_html(invoice(), tmp_path) == render_html(invoice())


def test_a_misspelt_field_in_an_operator_template_fails_loudly(tmp_path: Path) -> None:
    (tmp_path / "invoice.html.j2").write_text("{{ doc.totals.amount_dew }}")
    with pytest.raises(jinja2.UndefinedError):
        render_html(invoice(), tmp_path)
