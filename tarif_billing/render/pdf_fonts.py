"""Embedding our fonts whole in fpdf2's output: the one place that reaches into fpdf2's internals.

On every `output()` fpdf2 cuts each TrueType font down to the glyphs the document used
(fontTools' subsetter, pure Python), saves it, and writes a 128 KB glyph map: about 12 ms per
font per document, more than the layout of a whole invoice. Our fonts are already small Latin
subsets (`fonts/`, 24 KB each), so `WholeFontOutputProducer` embeds each one as it is, compressed
once per process, and writes fpdf2's per-document objects (widths, ToUnicode, the glyph map) for
the glyphs used. A PDF is ~20 KB larger; the text, metrics and glyphs drawn are the same.

It overrides `OutputProducer._add_fonts` (fpdf2 2.8) and uses two private helpers of
`fpdf.output`; `tests/unit/billing/test_render_pdf_fonts.py` fails loudly if fpdf2 changes them.
Fonts it does not know (core fonts, colour, CFF) go through fpdf2's own code unchanged.
"""

from __future__ import annotations

import copy
import io
import logging
import zlib
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, TypeGuard

from fontTools.ttLib import TTFont
from fpdf.fonts import PDFFontDescriptor, SubsetMap, TTFFont
from fpdf.output import (
    CIDSystemInfo,
    OutputProducer,
    PDFExtGState,
    PDFFont,
    PDFType3Font,
    PDFXObject,
    _build_cmap_blocks,
    _tt_font_widths,
)
from fpdf.syntax import Name, PDFArray, PDFContentStream

if TYPE_CHECKING:
    from fpdf.pattern import Pattern

_LOG = logging.getLogger(__name__)

# the fpdf2 releases this module was written against and tested with
FPDF2_VERSIONS = ("2.8.",)
# PDF's subset tag: the shipped files are themselves subsets of DejaVu Sans
SUBSET_TAG = "MPDFAA+"


@dataclass(frozen=True, slots=True)
class _Program:
    """A font file as the PDF embeds it: compressed once, glyph ids by name."""

    compressed: bytes
    length: int
    glyph_ids: dict[str, int]


@cache
def _program(path: str) -> _Program:
    with open(path, "rb") as file:
        data = file.read()
    with TTFont(io.BytesIO(data), lazy=True) as font:
        glyph_ids = dict(font.getReverseGlyphMap())
    return _Program(zlib.compress(data), len(data), glyph_ids)


class _FontFile(PDFContentStream):
    """A `FontFile2` stream whose compressed bytes are made once and shared by every PDF."""

    def __init__(self, program: _Program) -> None:
        super().__init__(contents=b"")
        self._contents = program.compressed
        self.filter = Name("FlateDecode")
        self.length = len(program.compressed)
        self.length1 = program.length  # what PDF asks of a FontFile2: the uncompressed size


def for_one_document(parsed: TTFFont) -> TTFFont:
    """A copy of a font `add_font` parsed, for one document, without parsing the file again.

    Parsing costs more than laying out a whole invoice. The copy shares the parsed metrics and
    fontTools object (never changed here: the font is embedded whole) and gets its own record
    of the glyphs used (fpdf2's own deep copy also copies every metrics table).
    """
    font = copy.copy(parsed)
    font.missing_glyphs = []
    font.subset = SubsetMap(font)
    return font


def _embeddable(font: object) -> TypeGuard[TTFFont]:
    return (
        isinstance(font, TTFFont)
        and not font.color_font
        and not font.is_cff
        and font.collection_font_number == 0
    )


class WholeFontOutputProducer(OutputProducer):
    """fpdf2's output, with every plain TrueType font embedded whole instead of subset.

    Meant for small fonts such as ours: a full-size font would be embedded whole too. Pass it
    as `pdf.output(output_producer_class=WholeFontOutputProducer)`.
    """

    def _add_fonts(
        self,
        image_objects_per_index: dict[int, PDFXObject],
        gfxstate_objs_per_name: dict[str, PDFExtGState],
        pattern_objs_per_name: dict[str, Pattern],
    ) -> dict[int, PDFFont | PDFType3Font]:
        registry = self.fpdf.fonts
        everything = dict(registry)
        added: dict[int, PDFFont | PDFType3Font] = {
            font.i: self._add_whole_font(font)
            for font in sorted(everything.values(), key=lambda font: font.i)
            if _embeddable(font)
        }
        # `pick` and `get_glyph` are memoised on the class, holding every document's glyph
        # record alive: fpdf2 clears them once a font is written, and so must we
        SubsetMap.pick.cache_clear()
        SubsetMap.get_glyph.cache_clear()
        others = {key: font for key, font in everything.items() if font.i not in added}
        if others:  # fpdf2 writes them, never seeing ours (it would subset their shared tables)
            registry.clear()
            registry.update(others)
            try:
                added.update(
                    super()._add_fonts(
                        image_objects_per_index, gfxstate_objs_per_name, pattern_objs_per_name
                    )
                )
            finally:
                registry.clear()
                registry.update(everything)
        return added

    def _add_whole_font(self, font: TTFFont) -> PDFFont:
        """The objects fpdf2 writes for a TrueType font, in its order, the program left whole."""
        if font.missing_glyphs:  # as fpdf2 says it
            missing = ", ".join(repr(chr(x)) for x in font.missing_glyphs[:10])
            _LOG.warning("Font %s is missing the following glyphs: %s", font.name, missing)
        program = _program(str(font.ttffile))
        name = SUBSET_TAG + font.name
        composite = PDFFont(subtype="Type0", base_font=name, encoding="Identity-H")
        self._add_pdf_obj(composite, "fonts")
        cid_font = PDFFont(
            subtype="CIDFontType2",
            base_font=name,
            d_w=font.desc.missing_width,
            w=_tt_font_widths(font),
        )
        self._add_pdf_obj(cid_font, "fonts")
        composite.descendant_fonts = PDFArray([cid_font])
        composite.to_unicode = self._to_unicode(font)
        system_info = CIDSystemInfo()
        self._add_pdf_obj(system_info, "fonts")
        cid_font.c_i_d_system_info = system_info
        descriptor: PDFFontDescriptor = copy.copy(font.desc)
        descriptor.font_name = Name(name)
        self._add_pdf_obj(descriptor, "fonts")
        cid_font.font_descriptor = descriptor
        cid_font.c_i_d_to_g_i_d_map = self._glyph_map(font, program)
        font_file = _FontFile(program)
        self._add_pdf_obj(font_file, "fonts")
        descriptor.font_file2 = font_file  # type: ignore[attr-defined]
        return composite

    def _to_unicode(self, font: TTFFont) -> PDFContentStream:
        """The map from each code used to its text, so the PDF can be searched and copied."""
        entries = [
            f"<{code:04X}> <{''.join(_utf16(x) for x in glyph.unicode)}>\n"
            for glyph, code in font.subset.items()
            if glyph is not None and isinstance(glyph.unicode, tuple) and glyph.unicode
        ]
        stream = PDFContentStream(
            (_CMAP_HEAD + _build_cmap_blocks(entries, "bfchar") + _CMAP_TAIL).encode("latin-1")
        )
        self._add_pdf_obj(stream, "fonts")
        return stream

    def _glyph_map(self, font: TTFFont, program: _Program) -> PDFContentStream:
        """CIDToGIDMap: the glyph of the whole font each code of this document draws.

        It stops at the highest code used (a few hundred bytes) where fpdf2 writes all 65,536
        codes: compressing those 128 KB cost ~1.7 ms per font. PDF reads the glyph of code c
        at bytes 2c and 2c+1 and sets no length; the content never draws a code beyond it.
        """
        codes = {code: glyph for glyph, code in font.subset.items() if glyph is not None}
        glyph_map = bytearray(2 * (max(codes, default=0) + 1))
        for code, glyph in codes.items():
            gid = program.glyph_ids[glyph.glyph_name]
            glyph_map[2 * code : 2 * code + 2] = gid.to_bytes(2, "big")
        stream = PDFContentStream(bytes(glyph_map), compress=True)
        self._add_pdf_obj(stream, "fonts")
        return stream


def _utf16(code: int) -> str:
    if code > 0xFFFF:  # a surrogate pair
        return f"{0xD800 | (code - 0x10000) >> 10:04X}{0xDC00 | (code & 0x3FF):04X}"
    return f"{code:04X}"


_CMAP_HEAD = (
    "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n/CIDSystemInfo\n"
    "<</Registry (Adobe)\n/Ordering (UCS)\n/Supplement 0\n>> def\n"
    "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
    "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
)
_CMAP_TAIL = "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"
