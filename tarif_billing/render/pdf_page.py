"""The document as a PDF, drawn with fpdf2: the same content as the HTML page.

Fonts are the DejaVu Sans subsets shipped in `fonts/`, embedded whole (`pdf_fonts`; PDF/A
refuses the base 14 fonts, which are never embedded). The creation date is the issue date at
midnight UTC and fpdf2 derives the file identifier from the content, so the same document gives
the same bytes. Every page carries the sRGB output intent PDF/A asks for; `facturx_pdf` turns
this PDF into PDF/A-3.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from functools import cache
from importlib.resources import files
from typing import Any, cast

from fpdf import FPDF, XPos, YPos
from fpdf.enums import OutputIntentSubType
from fpdf.fonts import TTFFont
from fpdf.output import PDFICCProfile
from fpdf.util import builtin_srgb2014_bytes

from tarif_billing.document import Document
from tarif_billing.render.json_form import document_dict
from tarif_billing.render.pdf_fonts import WholeFontOutputProducer, for_one_document
from tarif_billing.render.text import TITLES

FONT = "DejaVu"
# the info dictionary's /Producer and /Creator (and the Factur-X XMP's, which must agree)
PRODUCER = CREATOR = "Tarif"
_FONTS = files("tarif_billing.render") / "fonts"
_REGULAR = str(_FONTS / "DejaVuSans.ttf")
_BOLD = str(_FONTS / "DejaVuSans-Bold.ttf")

LINE_HEIGHT = 4.6
DASH = "\u2013"  # an en dash between dates and in the footer
_WIDTH = 180  # A4 less 15 mm margins, in mm
# columns of the lines table
_COLUMNS: tuple[tuple[str, float, str], ...] = (
    ("#", 8, "L"),
    ("Description", 80, "L"),
    ("Quantity", 20, "R"),
    ("Unit price", 24, "R"),
    ("VAT", 20, "R"),
    ("Net", 28, "R"),
)


@cache
def _parsed_fonts() -> dict[str, TTFFont]:
    """The fonts as `add_font` parses them, once per process."""
    pdf = FPDF()
    pdf.add_font(FONT, "", _REGULAR)
    pdf.add_font(FONT, "B", _BOLD)
    return {key: cast(TTFFont, font) for key, font in pdf.fonts.items()}


def fonts_for_one_document() -> dict[str, TTFFont]:
    """Fonts for one document, without parsing a TrueType file again (see `pdf_fonts`)."""
    return {key: for_one_document(parsed) for key, parsed in _parsed_fonts().items()}


class _Page(FPDF):
    """A4 in mm with the page number in the footer."""

    footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, "", 7)
        self.cell(0, 4, f"{self.footer_text}  {DASH}  page {self.page_no()}/{{nb}}", align="C")


def _new_pdf(document: Document, created: datetime) -> _Page:
    pdf = _Page(format="A4", unit="mm")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=18)
    pdf.fonts.update(fonts_for_one_document())
    pdf.set_creation_date(created)
    pdf.set_producer(PRODUCER)
    pdf.set_creator(CREATOR)
    pdf.set_title(f"{TITLES[document.kind]} {document.number}")
    pdf.set_author(document.seller.name)
    pdf.set_lang("en")
    pdf.add_output_intent(
        OutputIntentSubType.PDFA,
        output_condition_identifier="sRGB",
        output_condition="IEC 61966-2-1:1999",
        registry_name="http://www.color.org",
        dest_output_profile=PDFICCProfile(
            contents=builtin_srgb2014_bytes(), n=3, alternate="DeviceRGB"
        ),
        info="sRGB2014 (v2)",
    )
    pdf.footer_text = f"{document.seller.name}  {DASH}  {document.number}"
    return pdf


def _width(pdf: FPDF, text: str) -> float:
    """The width of `text` in the current font, as `get_string_width` gives it (~40x cheaper)."""
    font = pdf.current_font
    assert isinstance(font, TTFFont)
    return font.get_text_width(text, pdf.font_size_pt, None)[1] / pdf.k


def _put(
    pdf: FPDF, x: float, y: float, width: float, height: float, text: str, align: str = "L"
) -> None:
    """What `cell(width, height, text, align=align)` at (x, y) draws, without moving.

    A cell costs ~150 µs (markdown, bidi and line-break machinery for one line of known text);
    `text` at the same baseline draws the same glyphs for ~15 µs. Borders are drawn as lines.
    """
    if not text:
        return
    if align == "L":
        dx = pdf.c_margin
    elif align == "R":
        dx = width - pdf.c_margin - _width(pdf, text)
    else:
        dx = (width - _width(pdf, text)) / 2
    pdf.text(x + dx, y + 0.5 * height + 0.3 * pdf.font_size, text)


def _party_block(pdf: FPDF, x: float, y: float, role: str, party: dict[str, Any]) -> float:
    pdf.set_font(FONT, "B", 8)
    _put(pdf, x, y, 85, LINE_HEIGHT, role.upper())
    y += LINE_HEIGHT
    pdf.set_font(FONT, "B", 10)
    _put(pdf, x, y, 85, LINE_HEIGHT + 0.6, party["name"])
    y += LINE_HEIGHT + 0.6
    pdf.set_font(FONT, "", 9)
    rows = [row for row in party["address"].splitlines() if row.strip()]
    rows.append(f"{party['postcode']} {party['city']}")
    rows.append(party["country"])
    if party["vat_id"]:
        rows.append(f"VAT {party['vat_id']}")
    if party["company_id"]:
        rows.append(f"Reg. {party['company_id']}")
    if party["email"]:
        rows.append(party["email"])
    for row in rows:
        _put(pdf, x, y, 85, LINE_HEIGHT, row)
        y += LINE_HEIGHT
    return y


def _header(pdf: FPDF, doc: dict[str, Any]) -> None:
    left, y = pdf.l_margin, pdf.get_y()
    pdf.set_font(FONT, "B", 16)
    _put(pdf, left, y, _WIDTH, 8, f"{doc['title']} {doc['number']}")
    y += 8
    pdf.set_font(FONT, "", 9)
    meta = [("Issue date", doc["issue_date"]), ("Due date", doc["due_date"])]
    if doc["period_start"]:
        meta.append(("Period", f"{doc['period_start']} {DASH} {doc['period_end']}"))
    if doc["customer_account"]:
        meta.append(("Account", doc["customer_account"]))
    if doc["preceding_number"]:
        meta.append(("Corrects invoice", doc["preceding_number"]))
    for label, value in meta:
        _put(pdf, left, y, 35, LINE_HEIGHT, label)
        _put(pdf, left + 35, y, _WIDTH - 35, LINE_HEIGHT, value)
        y += LINE_HEIGHT
    top = y + 4
    bottom = max(
        _party_block(pdf, 15, top, "Seller", doc["seller"]),
        _party_block(pdf, 110, top, "Buyer", doc["buyer"]),
    )
    pdf.set_xy(15, bottom + 5)


def _table_row_head(pdf: FPDF, columns: tuple[tuple[str, float, str], ...]) -> None:
    """Bold titles over a rule, then the body font; the cursor goes below the rule."""
    y = pdf.get_y()
    x = left = pdf.l_margin
    pdf.set_font(FONT, "B", 8.5)
    for title, width, align in columns:
        _put(pdf, x, y, width, LINE_HEIGHT + 1, title, align)
        x += width
    pdf.line(left, y + LINE_HEIGHT + 1, x, y + LINE_HEIGHT + 1)
    pdf.set_xy(left, y + LINE_HEIGHT + 1.5)
    pdf.set_font(FONT, "", 8.5)


def _table_head(pdf: FPDF, currency: str) -> None:
    _table_row_head(
        pdf,
        tuple(
            (f"{title} ({currency})" if title == "Net" else title, width, align)
            for title, width, align in _COLUMNS
        ),
    )


def _description_rows(pdf: FPDF, text: str, width: float) -> list[str]:
    """`text` as the lines `multi_cell(width, ...)` would print; most fit on one."""
    rows: list[str] = []
    for part in text.split("\n"):
        if _width(pdf, part) <= width - 2 * pdf.c_margin:
            rows.append(part)
        else:
            wrapped = pdf.multi_cell(width, LINE_HEIGHT, part, dry_run=True, output="LINES")
            rows.extend(cast(list[str], wrapped))
    return rows


def _lines(pdf: FPDF, doc: dict[str, Any]) -> None:
    _table_head(pdf, doc["currency"])
    description_width = _COLUMNS[1][1]
    for line in doc["lines"]:
        description = line["description"]
        if line["period_start"]:
            description += f"\n{line['period_start']} {DASH} {line['period_end']}"
        rows = _description_rows(pdf, description, description_width)
        height = LINE_HEIGHT * len(rows)
        if pdf.will_page_break(height):
            pdf.add_page()
            _table_head(pdf, doc["currency"])
        y = pdf.get_y()
        x = pdf.l_margin
        cells = (
            [str(line["number"])],
            rows,
            [line["quantity"]],
            [line["unit_price"]],
            [f"{line['tax_category']} {line['tax_rate']}%"],
            [line["net"]],
        )
        for (_, width, align), texts in zip(_COLUMNS, cells, strict=True):
            for row, text in enumerate(texts):
                _put(pdf, x, y + row * LINE_HEIGHT, width, LINE_HEIGHT, text, align)
            x += width
        pdf.set_xy(pdf.l_margin, y + height + 0.8)


def _taxes(pdf: FPDF, doc: dict[str, Any]) -> None:
    pdf.ln(3)
    if pdf.will_page_break(LINE_HEIGHT * (len(doc["taxes"]) + 2)):
        pdf.add_page()
    _table_row_head(
        pdf, (("VAT breakdown", 92, "L"), ("Rate", 20, "R"), ("Taxable", 34, "R"), ("VAT", 34, "R"))
    )
    left, y = pdf.l_margin, pdf.get_y()
    for tax in doc["taxes"]:
        name = tax["category_name"]
        if tax["exemption_reason"] and tax["exemption_reason"] != name:
            name += f" ({tax['exemption_reason']})"
        _put(pdf, left, y, 92, LINE_HEIGHT, f"{tax['category']} {DASH} {name}")
        _put(pdf, left + 92, y, 20, LINE_HEIGHT, f"{tax['rate']}%", "R")
        _put(pdf, left + 112, y, 34, LINE_HEIGHT, tax["taxable"], "R")
        _put(pdf, left + 146, y, 34, LINE_HEIGHT, tax["tax"], "R")
        y += LINE_HEIGHT
    pdf.set_xy(left, y)


def _totals(pdf: FPDF, doc: dict[str, Any]) -> None:
    pdf.ln(3)
    totals = doc["totals"]
    rows = (
        ("Total net", totals["net"]),
        ("Total VAT", totals["tax"]),
        ("Total", totals["total"]),
        ("Credit applied", totals["credit_applied"]),
        ("Paid", totals["paid"]),
    )
    if pdf.will_page_break(LINE_HEIGHT * (len(rows) + 2)):
        pdf.add_page()
    y = pdf.get_y()
    pdf.set_font(FONT, "", 9)
    for label, value in rows:
        _put(pdf, 105, y, 45, LINE_HEIGHT, label)
        _put(pdf, 150, y, 45, LINE_HEIGHT, f"{value} {doc['currency']}", "R")
        y += LINE_HEIGHT
    pdf.set_font(FONT, "B", 10)
    label = "Amount credited" if doc["kind"] == "credit_note" else "Amount due"
    pdf.line(105, y, 195, y)
    _put(pdf, 105, y, 45, LINE_HEIGHT + 2, label)
    _put(pdf, 150, y, 45, LINE_HEIGHT + 2, f"{totals['amount_due']} {doc['currency']}", "R")
    pdf.set_xy(pdf.l_margin, y + LINE_HEIGHT + 2)


def _payment_and_notes(pdf: FPDF, doc: dict[str, Any]) -> None:
    texts = []
    if doc["payment_terms"]:
        texts.append(doc["payment_terms"])
    if doc["seller_iban"] and doc["kind"] == "invoice":  # a credit note is owed to the buyer
        texts.append(f"Pay by transfer to IBAN {doc['seller_iban']}, reference {doc['number']}")
    if doc["mandate_reference"]:
        texts.append(f"Collected by SEPA direct debit, mandate {doc['mandate_reference']}")
    texts.extend(doc["notes"])
    if not texts:
        return
    pdf.ln(5)
    pdf.set_font(FONT, "", 8.5)
    for text in texts:
        if "\n" in text or _width(pdf, text) > _WIDTH - 2 * pdf.c_margin:
            pdf.multi_cell(0, LINE_HEIGHT, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            continue
        if pdf.will_page_break(LINE_HEIGHT):
            pdf.add_page()
        y = pdf.get_y()
        _put(pdf, pdf.l_margin, y, _WIDTH, LINE_HEIGHT, text)
        pdf.set_xy(pdf.l_margin, y + LINE_HEIGHT)


def laid_out(document: Document) -> FPDF:
    """`document` drawn on an fpdf2 document not yet written (`facturx_pdf` adds to it)."""
    created = datetime.combine(document.issue_date, time(), tzinfo=UTC)
    pdf = _new_pdf(document, created)
    doc = document_dict(document)
    pdf.add_page()
    _header(pdf, doc)
    _lines(pdf, doc)
    _taxes(pdf, doc)
    _totals(pdf, doc)
    _payment_and_notes(pdf, doc)
    return pdf


def written(pdf: FPDF) -> bytes:
    """The bytes of `pdf`, our fonts embedded whole (`pdf_fonts`)."""
    return bytes(pdf.output(output_producer_class=WholeFontOutputProducer))


def render_pdf(document: Document) -> bytes:
    """The PDF of `document`; the same document gives the same bytes."""
    return written(laid_out(document))
