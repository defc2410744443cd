"""The invoice rendering benchmark end to end (`pytest -m load`): it runs and measures something.

Only completion and non-zero figures are asserted: speed on a shared CI box says nothing about
the target, which `python -m loadtest.invoice_render` reports with PASS/FAIL instead.
"""

from __future__ import annotations

import pytest

from loadtest.invoice_render import report, run


@pytest.mark.load
@pytest.mark.timeout(120)
def test_quick_invoice_render_benchmark_produces_figures() -> None:
    timings = run(3)
    assert [t.name for t in timings][:4] == [
        "bare fpdf2 page (reference)",
        "bare page, our 2 fonts embedded",
        "invoice PDF",
        "invoice Factur-X PDF/A-3",
    ]
    assert all(t.count == 3 and t.wall > 0 and t.per_second > 0 for t in timings)
    text = report(timings)
    assert "Target 50 PDFs/s per core:" in text
