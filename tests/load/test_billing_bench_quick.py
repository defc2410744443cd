"""The billing and ingestion benchmarks at a small size (`pytest -m load`): they build their data
set, run, and their own checks pass (every profile billed once, gapless numbers, usage = rated
records, journal balanced; every record stored once). Speed is not asserted here: the figures
that matter come from the full-size commands in docs/benchmarks.md ("Billing")."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest import billing_bench, ingest_bench


@pytest.mark.load
@pytest.mark.timeout(240)
def test_billing_bench_runs_and_checks_its_result(tmp_path: Path) -> None:
    opts = billing_bench.Options(profiles=1_200, events=30_000, workers=2, chunk=250)
    figures = billing_bench.measure(opts, tmp_path)

    assert len(figures.checks) == 4
    assert all(figures.checks.values()), figures.checks
    assert figures.billed == sum(w.billed for w in figures.per_worker) == 1_200
    assert len(figures.per_worker) == 2
    assert figures.run_seconds > 0
    assert figures.floor_seconds > 0
    assert "| Check: every profile billed once | ok |" in billing_bench.render(figures, "x")


@pytest.mark.load
@pytest.mark.timeout(180)
def test_ingest_bench_stores_every_record_both_ways(tmp_path: Path) -> None:
    figures = ingest_bench.measure(20_000, 2_000, tmp_path)

    assert figures.ingested == figures.raw == 20_000
    assert figures.ingest_rate > 0
    assert figures.raw_rate > 0
