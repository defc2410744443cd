"""Invoice rendering speed on one core: `python -m loadtest.invoice_render [-n 200]`.

Renders the same typical invoice (12 lines, three VAT rates, a discount, a period) N times as a
PDF and N times as a Factur-X PDF/A-3, and beside them a bare fpdf2 page (core font, one line of
text) as the floor of the stack: the ratio says what our layout, embedded fonts and the Factur-X
step cost over fpdf2 itself. The process is pinned to one CPU; CPU time per document is shown as
well, as wall time on a shared machine also measures the neighbours.

The Factur-X figure shows two of its parts (the CII XML, the XSD check; the rest is the PDF
with the XML embedded by fpdf2), and beside them what the `factur-x` package's pypdf round trip,
which it replaced, costs on the same PDF. Target: 50 PDFs per second per core.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import facturx
from fpdf import FPDF

from tarif_billing.document import Document, DocumentLine, Party
from tarif_billing.money import TaxableLine, tax_breakdown, to_minor
from tarif_billing.render.cii import cii_xml
from tarif_billing.render.facturx_pdf import check_xsd, render_facturx
from tarif_billing.render.pdf_fonts import WholeFontOutputProducer
from tarif_billing.render.pdf_page import FONT, fonts_for_one_document, render_pdf

TARGET_PER_SECOND = 50.0

_LINES = (
    ("Mobile plan Pro 50 GB", "1", "29.99", "20", "recurring"),
    ("Second SIM", "1", "5.00", "20", "recurring"),
    ("Voice calls, national (minutes)", "312", "0.0125", "20", "usage"),
    ("Voice calls, international (minutes)", "47", "0.19", "20", "usage"),
    ("SMS, national", "128", "0.05", "20", "usage"),
    ("Data beyond the allowance (MB)", "2048", "0.002", "20", "usage"),
    ("Roaming, zone 1 (MB)", "512", "0.004", "20", "usage"),
    ("Press bundle", "1", "4.99", "5.5", "recurring"),
    ("Newspaper app", "1", "1.99", "2.1", "recurring"),
    ("Handset instalment 7/24", "1", "19.00", "20", "recurring"),
    ("Loyalty discount", "1", "-5.00", "20", "discount"),
    ("Goodwill credit, outage of 2026-10-12", "1", "-2.50", "20", "adjustment"),
)


def sample_invoice() -> Document:
    """A typical monthly invoice; its totals follow `tarif_billing.money`."""
    lines = tuple(
        DocumentLine(
            number=n,
            description=text,
            quantity=Decimal(quantity),
            unit_price=Decimal(price),
            net=to_minor(Decimal(quantity) * Decimal(price)),
            tax_category="S",
            tax_rate=Decimal(rate),
            kind=kind,
        )
        for n, (text, quantity, price, rate, kind) in enumerate(_LINES, start=1)
    )
    taxes = tuple(tax_breakdown(TaxableLine(x.net, x.tax_category, x.tax_rate) for x in lines))
    net = sum((x.net for x in lines), Decimal("0.00"))
    tax = sum((t.tax for t in taxes), Decimal("0.00"))
    party = Party("Tarif Telecom SAS", "12 rue des Lilas", "Lyon", "69003", "FR", "FR32123456789")
    buyer = Party("Émile Dupont", "4 place Bellecour", "Lyon", "69002", "FR")
    return Document(
        kind="invoice",
        number="INV-2026-000042",
        issue_date=date(2026, 11, 1),
        due_date=date(2026, 12, 1),
        currency="EUR",
        seller=party,
        buyer=buyer,
        lines=lines,
        taxes=taxes,
        net_total=net,
        tax_total=tax,
        total=net + tax,
        credit_applied=Decimal("0.00"),
        paid=Decimal("0.00"),
        amount_due=net + tax,
        period_start=date(2026, 10, 1),
        period_end=date(2026, 10, 31),
        customer_account="ACC-0042",
        payment_terms="Due within 30 days",
        seller_iban="FR7630006000011234567890189",
    )


def bare_page() -> bytes:
    """fpdf2 alone: one page, a core font (not embedded), one line."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(0, 10, "Invoice INV-2026-000042  total 34.67 EUR")
    return bytes(pdf.output())


def bare_page_embedded_fonts() -> bytes:
    """The same page in our two embedded fonts: what embedding alone costs."""
    pdf = FPDF()
    pdf.fonts.update(fonts_for_one_document())
    pdf.add_page()
    pdf.set_font(FONT, size=12)
    pdf.cell(0, 10, "Invoice INV-2026-000042  total 34.67 EUR")
    pdf.set_font(FONT, "B", 12)
    pdf.cell(0, 10, "Amount due")
    return bytes(pdf.output(output_producer_class=WholeFontOutputProducer))


@dataclass(frozen=True, slots=True)
class Timing:
    name: str
    count: int
    wall: float
    cpu: float

    @property
    def per_second(self) -> float:
        return self.count / self.wall

    @property
    def cpu_ms(self) -> float:
        return self.cpu / self.count * 1000


def measure(name: str, count: int, work: Callable[[], object]) -> Timing:
    work()  # warm: imports, parsed fonts, compiled schemas
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        work()
    return Timing(name, count, time.perf_counter() - wall, time.process_time() - cpu)


def run(count: int) -> list[Timing]:
    document = sample_invoice()
    pdf = render_pdf(document)
    xml = cii_xml(document)
    return [
        measure("bare fpdf2 page (reference)", count, bare_page),
        measure("bare page, our 2 fonts embedded", count, bare_page_embedded_fonts),
        measure("invoice PDF", count, lambda: render_pdf(document)),
        measure("invoice Factur-X PDF/A-3", count, lambda: render_facturx(document)),
        measure("  of which: CII XML", count, lambda: cii_xml(document)),
        measure(
            "  of which: XSD check",
            count,
            lambda: check_xsd(xml),
        ),
        measure(
            "factur-x package's pypdf embedding (replaced; for comparison)",
            count,
            lambda: facturx.generate_from_binary(
                pdf, xml, flavor="factur-x", level="en16931", xmp_compression=False
            ),
        ),
    ]


def report(timings: list[Timing]) -> str:
    bare = timings[0]
    rows = [
        "| what | per second (wall) | CPU ms each | x bare fpdf2 (CPU) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for t in timings:
        ratio = t.cpu_ms / bare.cpu_ms
        rows.append(f"| {t.name} | {t.per_second:.1f} | {t.cpu_ms:.2f} | {ratio:.1f} |")
    pdf = next(t for t in timings if t.name == "invoice PDF")
    # per core: documents per second of CPU time; wall time on a shared machine also
    # measures whatever else runs on the pinned core
    per_cpu_second = 1000 / pdf.cpu_ms
    verdict = "PASS" if per_cpu_second >= TARGET_PER_SECOND else "FAIL"
    rows.append("")
    rows.append(
        f"Target {TARGET_PER_SECOND:.0f} PDFs/s per core: {verdict} "
        f"({per_cpu_second:.1f}/s on CPU time, {pdf.per_second:.1f}/s wall)"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.invoice_render", description=__doc__)
    parser.add_argument("-n", "--count", type=int, default=200, help="documents per format")
    parser.add_argument("--cpu", type=int, help="CPU to pin to (default: the first allowed)")
    args = parser.parse_args(argv)
    cpu = args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    print(f"{args.count} documents per format, pinned to CPU {cpu}", file=sys.stderr)
    print(report(run(args.count)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
