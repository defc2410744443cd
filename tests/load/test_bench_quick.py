"""The benchmark's quick mode end to end (`pytest -m load`): it runs and measures something.

Only completion and non-zero figures are asserted: throughput on a shared CI box says nothing
about the targets, which `python -m loadtest.bench` reports with PASS/FAIL instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.bench import Options, open_loop_rates, run_benchmark


@pytest.mark.load
@pytest.mark.timeout(180)
def test_quick_benchmark_produces_figures(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    runs, text = run_benchmark(Options.make(True, ("everysec",)), out, "pytest -m load")

    (run,) = runs
    phases = (
        run.unary,
        run.batch,
        run.latency,
        run.raw_single,
        run.raw_batch,
        run.floor_unary,
        run.floor_batch,
    )
    for phase in phases:
        assert phase is not None
        assert phase.events > 0
    for floor in (run.floor_unary, run.floor_batch):
        assert floor is not None
        assert floor.success == floor.events  # the no-op answers SUCCESS to every event
        assert floor.cpu.get("floor", 0.0) > 0  # its own process was sampled
    assert run.engine_rss_max > 0
    # the open loop runs at half the unary peak just measured, then at the peak
    assert run.latency is not None
    assert run.latency_half is not None
    assert (run.latency_half.offered_rate, run.latency.offered_rate) == open_loop_rates(run.unary)
    assert run.memory_before.per_subscriber > 0
    assert out.read_text() == text
    assert "## Targets" in text
    assert "| Ratio unary engine / floor |" in text
    assert "| Open-loop p99 at half the unary peak | <= 5 ms |" in text
    assert "## CPU per event" in text
