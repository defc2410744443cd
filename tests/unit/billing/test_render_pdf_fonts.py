"""Whole-font embedding (`pdf_fonts`): fails loudly when fpdf2 changes what it relies on.

The module overrides a private method of fpdf2 and uses two private helpers; an fpdf2 upgrade
must come with a look at `OutputProducer._add_fonts` and these tests.
"""

from __future__ import annotations

import inspect
import io
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fpdf
import pytest
from fontTools.ttLib import TTFont
from fpdf.fonts import SubsetMap
from fpdf.output import OutputProducer
from pypdf import PdfReader

from tarif_billing.render import pdf_fonts
from tarif_billing.render.pdf_page import _BOLD, _REGULAR, FONT, fonts_for_one_document, render_pdf
from tests.unit.billing.render_documents import invoice

FILES = {"DejaVuSansBook": Path(_REGULAR), "DejaVuSansBold": Path(_BOLD)}


def test_fpdf2_is_a_release_this_was_written_for() -> None:
    """On an fpdf2 upgrade, re-read `OutputProducer._add_fonts` before widening the list."""
    assert fpdf.__version__.startswith(pdf_fonts.FPDF2_VERSIONS), fpdf.__version__
    parameters = list(inspect.signature(OutputProducer._add_fonts).parameters)
    assert parameters == [
        "self",
        "image_objects_per_index",
        "gfxstate_objs_per_name",
        "pattern_objs_per_name",
    ]
    source = inspect.getsource(OutputProducer._insert_resources)
    assert "self._add_fonts(" in source  # still the one place fonts are written


def _fonts(pdf: bytes) -> dict[str, Any]:
    reader = PdfReader(io.BytesIO(pdf))
    resources: Any = reader.pages[0]["/Resources"]
    fonts = resources["/Font"]
    return {str(font["/BaseFont"]): font for font in (x.get_object() for x in fonts.values())}


def test_each_font_is_embedded_whole() -> None:
    fonts = _fonts(render_pdf(invoice()))
    assert sorted(fonts) == ["/MPDFAA+DejaVuSansBold", "/MPDFAA+DejaVuSansBook"]
    for name, font in fonts.items():
        descendant = font["/DescendantFonts"][0].get_object()
        program = descendant["/FontDescriptor"]["/FontFile2"].get_object()
        shipped = FILES[name.removeprefix("/MPDFAA+")].read_bytes()
        assert program.get_data() == shipped
        assert program["/Length1"] == len(shipped)


def _cmap_pairs(data: bytes) -> dict[int, int]:
    """<code> <unicode> pairs of a ToUnicode CMap."""
    pairs = re.findall(rb"<([0-9A-F]{4})> <([0-9A-F]{4})>", data)
    return {int(code, 16): int(text, 16) for code, text in pairs}


def test_every_code_drawn_shows_the_glyph_of_its_character() -> None:
    """The glyph map points into the whole font: code -> character -> that font's glyph."""
    fonts = _fonts(render_pdf(invoice()))
    for name, font in fonts.items():
        descendant = font["/DescendantFonts"][0].get_object()
        glyph_map = descendant["/CIDToGIDMap"].get_object().get_data()
        characters = _cmap_pairs(font["/ToUnicode"].get_object().get_data())
        assert len(characters) > 10
        with TTFont(FILES[name.removeprefix("/MPDFAA+")]) as ttf:
            cmap = ttf.getBestCmap()
            for code, character in characters.items():
                gid = int.from_bytes(glyph_map[2 * code : 2 * code + 2], "big")
                if character == 0:  # fpdf2 keeps code 0 for .notdef
                    assert gid == 0
                    continue
                assert gid == ttf.getGlyphID(cmap[character]), (name, chr(character))
                assert gid != 0


def test_a_copy_for_one_document_records_its_own_glyphs() -> None:
    first, second = fonts_for_one_document()[FONT.lower()], fonts_for_one_document()[FONT.lower()]
    first.subset.pick(ord("Z"))
    assert len(first.subset) == len(second.subset) + 1
    assert first.ttfont is second.ttfont  # parsed once, never changed


def test_documents_written_leave_no_glyph_records_behind() -> None:
    """fpdf2 memoises glyph look-ups on the class; each output must clear them (no leak)."""
    render_pdf(invoice())
    assert SubsetMap.pick.cache_info().currsize == 0
    assert SubsetMap.get_glyph.cache_info().currsize == 0


def test_a_missing_character_is_left_out_and_named(caplog: pytest.LogCaptureFixture) -> None:
    pdf = fpdf.FPDF()
    pdf.fonts.update(fonts_for_one_document())
    pdf.add_page()
    pdf.set_font(FONT, size=10)
    pdf.cell(0, 10, "Tarif \u4e2d")
    with caplog.at_level(logging.WARNING, logger=pdf_fonts.__name__):
        out = bytes(pdf.output(output_producer_class=pdf_fonts.WholeFontOutputProducer))
    assert "'\u4e2d'" in caplog.text
    assert "Tarif" in PdfReader(io.BytesIO(out)).pages[0].extract_text()


def _core_font_page() -> fpdf.FPDF:
    pdf = fpdf.FPDF()
    pdf.set_creation_date(datetime(2026, 11, 1, tzinfo=UTC))
    pdf.add_page()
    pdf.set_font("helvetica", size=10)
    pdf.cell(0, 10, "core font")
    return pdf


def test_other_fonts_go_through_fpdf2_unchanged() -> None:
    ours = _core_font_page().output(output_producer_class=pdf_fonts.WholeFontOutputProducer)
    assert bytes(ours) == bytes(_core_font_page().output())
    assert b"/BaseFont /Helvetica" in ours


def test_a_core_font_beside_ours_leaves_our_shared_fonts_whole() -> None:
    """fpdf2 writes the core font; it must not subset the tables our fonts share."""
    for _ in range(2):
        pdf = fpdf.FPDF()
        pdf.fonts.update(fonts_for_one_document())
        pdf.add_page()
        pdf.set_font(FONT, size=10)
        pdf.cell(0, 10, "Tarif")
        pdf.set_font("helvetica", size=10)
        pdf.cell(0, 10, "core font")
        out = bytes(pdf.output(output_producer_class=pdf_fonts.WholeFontOutputProducer))
        fonts = _fonts(out)
        assert "/Helvetica" in fonts
        program = fonts["/MPDFAA+DejaVuSansBook"]["/DescendantFonts"][0].get_object()
        file = program["/FontDescriptor"]["/FontFile2"].get_object()
        assert file.get_data() == FILES["DejaVuSansBook"].read_bytes()
    shared = fonts_for_one_document()[FONT.lower()].ttfont
    with TTFont(FILES["DejaVuSansBook"]) as shipped:
        assert shared.getGlyphOrder() == shipped.getGlyphOrder()  # not cut down
