"""Render an invoice or credit note (`tarif_billing.document.Document`) in one of its formats.

`render(document, "pdf")` gives the bytes; `MEDIA_TYPES` the content type to send them with.
Formats: json (the stable JSON form), html (Jinja2, operator-replaceable template), pdf, facturx
(PDF/A-3B with the EN 16931 CII XML inside), ubl (UBL 2.1 XML), cii (the CII XML alone).
Every renderer is pure: the same document gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal, get_args

from tarif_billing.document import Document
from tarif_billing.render.cii import cii_xml
from tarif_billing.render.facturx_pdf import render_facturx
from tarif_billing.render.html_page import render_html
from tarif_billing.render.json_form import render_json
from tarif_billing.render.pdf_page import render_pdf
from tarif_billing.render.ubl import ubl_xml
from tarif_common.errors import InvalidRequest

Format = Literal["json", "html", "pdf", "facturx", "ubl", "cii"]
FORMATS: tuple[str, ...] = get_args(Format)

MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "facturx": "application/pdf",
    "ubl": "application/xml",
    "cii": "application/xml",
}

_RENDERERS: dict[str, Callable[[Document], bytes]] = {
    "json": render_json,
    "pdf": render_pdf,
    "facturx": render_facturx,
    "ubl": ubl_xml,
    "cii": cii_xml,
}


def media_type(fmt: str) -> str:
    """The content type of `fmt`; `InvalidRequest` for an unknown format."""
    _check(fmt)
    return MEDIA_TYPES[fmt]


def render(document: Document, fmt: str, *, templates_dir: Path | None = None) -> bytes:
    """`document` in format `fmt`; `templates_dir` may hold an operator's `invoice.html.j2`."""
    _check(fmt)
    if fmt == "html":
        return render_html(document, templates_dir).encode()
    return _RENDERERS[fmt](document)


def _check(fmt: str) -> None:
    if fmt not in FORMATS:
        raise InvalidRequest("format", f"unknown document format {fmt!r}, one of {list(FORMATS)}")


__all__ = ["FORMATS", "MEDIA_TYPES", "Format", "media_type", "render"]
