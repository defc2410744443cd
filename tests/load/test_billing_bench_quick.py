"""The billing and ingestion benchmarks at a small size (`pytest -m load`): they build their data
set, run, and their own checks pass (every profile billed once, gapless numbers, usage = rated
records, journal balanced; every record stored once). Speed is not asserted here: the figures
that matter come from the full-size commands in docs/benchmarks.md ("Billing")."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest import billing_bench, ingest_bench


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A folder the embedded Postgres' system user may enter (pytest's tmp_path is closed)."""
    path = Path(tempfile.mkdtemp(prefix="tarif-bench-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.load
@pytest.mark.timeout(240)
def test_billing_bench_runs_and_checks_its_result(workdir: Path) -> None:
    opts = billing_bench.Options(profiles=1_200, events=30_000, workers=2, chunk=250)
    figures = billing_bench.measure(opts, workdir)

    assert len(figures.checks) == 4
    assert all(figures.checks.values()), figures.checks
    assert figures.billed == sum(w.billed for w in figures.per_worker) == 1_200
    assert len(figures.per_worker) == 2
    assert figures.run_seconds > 0
    assert figures.floor_seconds > 0
    assert "| Check: every profile billed once | ok |" in billing_bench.render(figures, "x")


@pytest.mark.load
@pytest.mark.timeout(180)
def test_ingest_bench_stores_every_record_both_ways(workdir: Path) -> None:
    figures = ingest_bench.measure(20_000, 2_000, workdir)

    assert figures.ingested == figures.raw == 20_000
    assert figures.ingest_rate > 0
    assert figures.raw_rate > 0
