"""The PDF: what it says (read back with pypdf), its embedded fonts, and the same bytes twice."""

from __future__ import annotations

import dataclasses
import io
from datetime import date

import pytest
from pypdf import PdfReader

from tarif_billing.render.pdf_page import DASH, FONT, fonts_for_one_document, render_pdf
from tests.unit.billing.render_documents import credit_note, exempt, invoice, line


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_shows_number_lines_vat_and_totals() -> None:
    text = text_of(render_pdf(invoice()))
    for expected in (
        "Invoice INV-2026-000042",
        "Issue date 2026-11-01",
        "Due date 2026-12-01",
        f"Period 2026-10-01 {DASH} 2026-10-31",
        "Tarif Telecom SAS",
        "Émile & Fils <SARL>",
        "VAT FR45987654321",
        "1 Monthly plan Pro 1 29.99 S 20% 29.99",
        "2 Voice calls, national (minutes) 312 0.0125 S 20% 3.90",
        "3 Loyalty discount 1 -5.00 S 20% -5.00",
        f"S {DASH} Standard rate 20% 28.89 5.78",
        "Total net 28.89 EUR",
        "Total VAT 5.78 EUR",
        "Total 34.67 EUR",
        "Credit applied 3.00 EUR",
        "Paid 10.00 EUR",
        "Amount due 21.67 EUR",
        "Pay by transfer to IBAN FR7630006000011234567890189",
        "Transferred to account 42",
        "page 1/1",
    ):
        assert expected in text, expected


def test_credit_note_and_exempt_breakdown() -> None:
    text = text_of(render_pdf(credit_note()))
    assert "Credit note CN-2026-000007" in text
    assert "Corrects invoice INV-2026-000042" in text
    assert "Amount credited 15.00 EUR" in text
    assert "Amount due" not in text
    assert "Pay by transfer" not in text  # the seller owes this one
    text = text_of(render_pdf(exempt()))
    assert f"E {DASH} Exempt from VAT (Article 261 C CGI: exempt) 0% 6.80 0.00" in text


def test_long_documents_break_pages_and_repeat_the_table_head() -> None:
    lines = tuple(line(n, f"Call bundle number {n}", "1", "1.00") for n in range(1, 90))
    document = dataclasses.replace(invoice(), lines=lines)
    reader = PdfReader(io.BytesIO(render_pdf(document)))
    assert len(reader.pages) >= 2
    assert "Description Quantity" in reader.pages[1].extract_text()
    assert "Call bundle number 89" in text_of(render_pdf(document))


def test_every_font_is_embedded() -> None:
    reader = PdfReader(io.BytesIO(render_pdf(invoice())))
    fonts = reader.pages[0]["/Resources"]["/Font"]
    assert len(fonts) == 2  # regular and bold
    for font in fonts.values():
        descendant = font.get_object()["/DescendantFonts"][0].get_object()
        assert "/FontFile2" in descendant["/FontDescriptor"], descendant["/BaseFont"]
        assert "DejaVuSans" in descendant["/BaseFont"]


def test_the_same_document_gives_the_same_bytes_dated_by_its_issue_date() -> None:
    first = render_pdf(invoice())
    assert first == render_pdf(invoice())
    reader = PdfReader(io.BytesIO(first))
    assert reader.metadata is not None
    created = reader.metadata.creation_date
    assert created is not None
    assert created.date() == date(2026, 11, 1)
    other = dataclasses.replace(invoice(), number="INV-2026-000043")
    assert render_pdf(other) != first


def test_carries_the_srgb_output_intent() -> None:
    root = PdfReader(io.BytesIO(render_pdf(invoice()))).trailer["/Root"]
    (intent,) = root["/OutputIntents"]
    intent = intent.get_object()
    assert intent["/S"] == "/GTS_PDFA1"
    assert intent["/OutputConditionIdentifier"] == "sRGB"
    assert intent["/DestOutputProfile"].get_object().get_data()[36:40] == b"acsp"  # ICC


def test_characters_outside_the_fonts_are_left_out_not_fatal() -> None:
    document = invoice()
    first = dataclasses.replace(document.lines[0], description="Appel 東京 Łódź Șerban")
    text = text_of(render_pdf(dataclasses.replace(document, lines=(first, *document.lines[1:]))))
    assert "Łódź Șerban" in text
    assert "東" not in text


def placed(pdf: bytes) -> list[tuple[float, float, str]]:
    """(x, y, text) of every text drawn on the first page, y in points from the bottom."""
    found: list[tuple[float, float, str]] = []

    def visit(text: str, cm: object, tm: list[float], font: object, size: object) -> None:
        if text.strip():
            found.append((round(tm[4], 2), round(tm[5], 2), text.strip()))

    PdfReader(io.BytesIO(pdf)).pages[0].extract_text(visitor_text=visit)
    return found


def test_a_long_description_and_a_period_wrap_inside_the_description_column() -> None:
    document = invoice()
    long = "Roaming data in zone 2 (rest of the world), billed per started megabyte of traffic"
    first = dataclasses.replace(
        document.lines[0],
        description=long,
        period_start=date(2026, 10, 1),
        period_end=date(2026, 10, 31),
    )
    text = placed(render_pdf(dataclasses.replace(document, lines=(first, *document.lines[1:]))))
    rows = [item for item in text if item[2] and long.startswith(item[2][:20])]
    (start,) = rows
    x, y = start[0], start[1]
    assert start[2] != long  # it did not fit on one row
    below = sorted((item for item in text if item[0] == x and item[1] < y), key=lambda i: -i[1])
    continuation, period = below[0], below[1]
    assert f"{start[2]} {continuation[2]}" == long
    assert period[2] == f"2026-10-01 {DASH} 2026-10-31"
    step = y - continuation[1]
    assert step == pytest.approx(4.6 * 72 / 25.4, abs=0.02)  # one line height, in points
    assert continuation[1] - period[1] == pytest.approx(step, abs=0.02)
    (quantity,) = [item for item in text if item[2] == "29.99" and item[1] == y][:1]
    assert quantity[0] > x  # the other columns stay on the first row
    (number_two,) = [item for item in text if item[2] == "2" and item[0] < x]
    assert number_two[1] < period[1]  # the next line starts below the period


def test_a_right_aligned_amount_ends_at_the_column_edge() -> None:
    """Net amounts of different widths end 1 mm inside the table's right edge (195 mm)."""
    regular = fonts_for_one_document()[FONT.lower()]
    text = placed(render_pdf(invoice()))
    nets = [item for item in text if item[2] in ("29.99", "3.90", "-5.00") and item[0] > 450]
    assert len(nets) == 3
    assert len({x for x, _, _ in nets}) > 1  # different widths, different starts
    for x, _, amount in nets:
        width = regular.get_text_width(amount, 8.5, None)[1]  # points
        assert x + width == pytest.approx(194 * 72 / 25.4, abs=0.02), amount
