"""`render`: one entry point for every format, a media type each, a typed error otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from tarif_billing.render import FORMATS, MEDIA_TYPES, media_type, render
from tarif_common.errors import InvalidRequest
from tests.unit.billing.render_documents import invoice

MAGIC = {
    "json": b"{",
    "html": b"<!DOCTYPE html>",
    "pdf": b"%PDF-",
    "facturx": b"%PDF-",
    "ubl": b"<?xml",
    "cii": b"<?xml",
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders_with_its_media_type(fmt: str) -> None:
    assert render(invoice(), fmt).startswith(MAGIC[fmt])
    assert media_type(fmt) == MEDIA_TYPES[fmt]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_gives_the_same_bytes_for_the_same_document(fmt: str) -> None:
    assert render(invoice(), fmt) == render(invoice(), fmt)


def test_html_takes_the_operator_templates(tmp_path: Path) -> None:
    (tmp_path / "invoice.html.j2").write_text("{{ doc.number }}")
    assert render(invoice(), "html", templates_dir=tmp_path) == b"INV-2026-000042"


@pytest.mark.parametrize("fmt", ["docx", "PDF", ""])
def test_an_unknown_format_is_an_invalid_request(fmt: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        render(invoice(), fmt)
    assert raised.value.field == "format"
    with pytest.raises(InvalidRequest):
        media_type(fmt)
