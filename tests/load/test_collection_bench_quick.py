"""The payment-collection benchmark at a small size (`pytest -m load`): it builds its data set,
runs the job in two worker processes against the sandbox gateway (a process of its own), and its
own checks pass: every approved card invoice paid once (payments = the sandbox's charges), every
declining card declined, the direct debits in one SEPA collection, the journal balanced, a second
run sending nothing. Speed is not asserted here: docs/payment-collection.md has the figures."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest import collection_bench


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A folder the embedded Postgres' system user may enter (pytest's tmp_path is closed)."""
    path = Path(tempfile.mkdtemp(prefix="tarif-bench-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.load
@pytest.mark.timeout(240)
def test_collection_bench_runs_and_checks_its_result(workdir: Path) -> None:
    opts = collection_bench.Options(accounts=1_000, workers=2, chunk=100, floor_sample=500)
    figures = collection_bench.measure(opts, workdir)

    assert len(figures.checks) == 7
    assert all(figures.checks.values()), (figures.checks, figures.found)
    assert sum(w.total for w in figures.per_worker) == 1_000  # 950 cards + 50 debits
    assert figures.charges == 950 - 10  # every 50th card declines (50, 150, ... are debits)
    assert len(figures.per_worker) == 2
    assert figures.run_seconds > 0
    assert figures.floor_seconds > 0
    rendered = collection_bench.render(figures, "x")
    assert "| Check: journal balanced | ok |" in rendered
