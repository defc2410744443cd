"""The document as a Factur-X (EN 16931 profile) PDF/A-3B: the PDF with its CII XML inside.

The `factur-x` package checks the XML against the XSD, embeds it as `factur-x.xml`
(AFRelationship /Data, listed in the catalog's /AF) and writes the XMP metadata (pdfaid part 3,
conformance B, the Factur-X extension schema). The base PDF brings what PDF/A needs besides:
embedded fonts and the sRGB output intent (`pdf_page`).

`factur-x` stamps the current time into the info dictionary, the XMP packet and the attachment;
those stamps are set back to the issue date (same length, so the cross-reference table holds) so
that one document always gives the same bytes. The header is set to PDF 1.7, the version
PDF/A-3 is built on (fpdf2 and pypdf write 1.4; /AF and the output intent are 1.7 features).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time

import facturx

from tarif_billing.document import Document
from tarif_billing.render.cii import cii_xml
from tarif_billing.render.pdf_page import render_pdf
from tarif_billing.render.text import TITLES

# the producer factur-x writes into the XMP packet; the info dictionary must say the same (PDF/A)
PRODUCER = "pypdf"
# pypdf writes ":", "+" and "'" of a PDF date as octal escapes
_PDF_STAMP = re.compile(rb"D\\072\d{14}\\05300\\04700\\047")
_XMP_STAMP = re.compile(rb"<xmp:(CreateDate|ModifyDate)>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00<")


def render_facturx(document: Document) -> bytes:
    """The Factur-X PDF/A-3B of `document`."""
    title = f"{TITLES[document.kind]} {document.number}"
    pdf = facturx.generate_from_binary(
        render_pdf(document, producer=PRODUCER),
        cii_xml(document),
        flavor="factur-x",
        level="en16931",
        check_xsd=True,
        pdf_metadata={
            "author": document.seller.name,
            "keywords": "Factur-X, Invoice",
            "title": title,
            "subject": f"Factur-X {title} dated {document.issue_date.isoformat()} "
            f"issued by {document.seller.name}",
        },
        lang="en-GB",
        xmp_compression=False,  # so the stamps below can be set; PDF/A prefers it plain
    )
    return _stamped(pdf, datetime.combine(document.issue_date, time(), tzinfo=UTC))


def _stamped(pdf: bytes, moment: datetime) -> bytes:
    pdf_stamp = moment.strftime("D\\072%Y%m%d%H%M%S\\05300\\04700\\047").encode()
    xmp_stamp = moment.strftime("%Y-%m-%dT%H:%M:%S+00:00").encode()
    if pdf.startswith(b"%PDF-1."):
        pdf = b"%PDF-1.7" + pdf[len(b"%PDF-1.7") :]  # same length: the offsets hold
    pdf = _PDF_STAMP.sub(lambda _: pdf_stamp, pdf)  # a literal: no backslash escapes
    return _XMP_STAMP.sub(lambda match: b"<xmp:" + match[1] + b">" + xmp_stamp + b"<", pdf)
