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
_FONTS = files("tarif_billing.render") / "fonts"
_REGULAR = str(_FONTS / "DejaVuSans.ttf")
_BOLD = str(_FONTS / "DejaVuSans-Bold.ttf")

LINE_HEIGHT = 4.6
DASH = "\u2013"  # an en dash between dates and in the footer
# columns of the lines table (mm, A4 less 15 mm margins = 180)
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


def _new_pdf(document: Document, created: datetime, producer: str) -> _Page:
    pdf = _Page(format="A4", unit="mm")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=18)
    pdf.fonts.update(fonts_for_one_document())
    pdf.set_creation_date(created)
    pdf.set_producer(producer)
    pdf.set_creator("Tarif")
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


def _party_block(pdf: FPDF, x: float, y: float, role: str, party: dict[str, Any]) -> float:
    pdf.set_xy(x, y)
    pdf.set_font(FONT, "B", 8)
    pdf.cell(85, LINE_HEIGHT, role.upper(), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FONT, "B", 10)
    pdf.cell(85, LINE_HEIGHT + 0.6, party["name"], new_x=XPos.LEFT, new_y=YPos.NEXT)
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
        pdf.cell(85, LINE_HEIGHT, row, new_x=XPos.LEFT, new_y=YPos.NEXT)
    return pdf.get_y()


def _header(pdf: FPDF, doc: dict[str, Any]) -> None:
    pdf.set_font(FONT, "B", 16)
    pdf.cell(0, 8, f"{doc['title']} {doc['number']}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 9)
    meta = [("Issue date", doc["issue_date"]), ("Due date", doc["due_date"])]
    if doc["period_start"]:
        meta.append(("Period", f"{doc['period_start']} {DASH} {doc['period_end']}"))
    if doc["customer_account"]:
        meta.append(("Account", doc["customer_account"]))
    if doc["preceding_number"]:
        meta.append(("Corrects invoice", doc["preceding_number"]))
    for label, value in meta:
        pdf.cell(35, LINE_HEIGHT, label)
        pdf.cell(0, LINE_HEIGHT, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    top = pdf.get_y() + 4
    bottom = max(
        _party_block(pdf, 15, top, "Seller", doc["seller"]),
        _party_block(pdf, 110, top, "Buyer", doc["buyer"]),
    )
    pdf.set_xy(15, bottom + 5)


def _table_head(pdf: FPDF, currency: str) -> None:
    pdf.set_font(FONT, "B", 8.5)
    for title, width, align in _COLUMNS:
        label = f"{title} ({currency})" if title == "Net" else title
        pdf.cell(width, LINE_HEIGHT + 1, label, border="B", align=align)
    pdf.ln(LINE_HEIGHT + 1.5)
    pdf.set_font(FONT, "", 8.5)


def _lines(pdf: FPDF, doc: dict[str, Any]) -> None:
    _table_head(pdf, doc["currency"])
    description_width = _COLUMNS[1][1]
    for line in doc["lines"]:
        description = line["description"]
        if line["period_start"]:
            description += f"\n{line['period_start']} {DASH} {line['period_end']}"
        if "\n" in description or pdf.get_string_width(description) > description_width - 2:
            rows = cast(
                list[str],
                pdf.multi_cell(
                    description_width, LINE_HEIGHT, description, dry_run=True, output="LINES"
                ),
            )
        else:
            rows = [description]
        height = LINE_HEIGHT * len(rows)
        if pdf.will_page_break(height):
            pdf.add_page()
            _table_head(pdf, doc["currency"])
        y = pdf.get_y()
        cells = (
            str(line["number"]),
            description,
            line["quantity"],
            line["unit_price"],
            f"{line['tax_category']} {line['tax_rate']}%",
            line["net"],
        )
        for (_, width, align), text in zip(_COLUMNS, cells, strict=True):
            if text is description and len(rows) > 1:
                x = pdf.get_x()
                pdf.multi_cell(width, LINE_HEIGHT, text, align=align)
                pdf.set_xy(x + width, y)
            else:  # a cell is a fraction of a multi_cell's cost
                pdf.cell(width, LINE_HEIGHT, text, align=align)
        pdf.set_xy(pdf.l_margin, y + height + 0.8)


def _taxes(pdf: FPDF, doc: dict[str, Any]) -> None:
    pdf.ln(3)
    if pdf.will_page_break(LINE_HEIGHT * (len(doc["taxes"]) + 2)):
        pdf.add_page()
    pdf.set_font(FONT, "B", 8.5)
    for title, width, align in (
        ("VAT breakdown", 92, "L"),
        ("Rate", 20, "R"),
        ("Taxable", 34, "R"),
        ("VAT", 34, "R"),
    ):
        pdf.cell(width, LINE_HEIGHT + 1, title, border="B", align=align)
    pdf.ln(LINE_HEIGHT + 1.5)
    pdf.set_font(FONT, "", 8.5)
    for tax in doc["taxes"]:
        name = tax["category_name"]
        if tax["exemption_reason"] and tax["exemption_reason"] != name:
            name += f" ({tax['exemption_reason']})"
        pdf.cell(92, LINE_HEIGHT, f"{tax['category']} {DASH} {name}")
        pdf.cell(20, LINE_HEIGHT, f"{tax['rate']}%", align="R")
        pdf.cell(34, LINE_HEIGHT, tax["taxable"], align="R")
        pdf.cell(34, LINE_HEIGHT, tax["tax"], align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


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
    pdf.set_font(FONT, "", 9)
    for label, value in rows:
        pdf.set_x(105)
        pdf.cell(45, LINE_HEIGHT, label)
        pdf.cell(
            45,
            LINE_HEIGHT,
            f"{value} {doc['currency']}",
            align="R",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    pdf.set_x(105)
    pdf.set_font(FONT, "B", 10)
    label = "Amount credited" if doc["kind"] == "credit_note" else "Amount due"
    pdf.cell(45, LINE_HEIGHT + 2, label, border="T")
    pdf.cell(
        45,
        LINE_HEIGHT + 2,
        f"{totals['amount_due']} {doc['currency']}",
        border="T",
        align="R",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )


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
        pdf.multi_cell(0, LINE_HEIGHT, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def render_pdf(document: Document, *, producer: str = "Tarif") -> bytes:
    """The PDF of `document`; the same document gives the same bytes."""
    created = datetime.combine(document.issue_date, time(), tzinfo=UTC)
    pdf = _new_pdf(document, created, producer)
    doc = document_dict(document)
    pdf.add_page()
    _header(pdf, doc)
    _lines(pdf, doc)
    _taxes(pdf, doc)
    _totals(pdf, doc)
    _payment_and_notes(pdf, doc)
    return bytes(pdf.output(output_producer_class=WholeFontOutputProducer))
