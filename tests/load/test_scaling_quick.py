"""`python -m loadtest.scaling` end to end, small (`pytest -m load`): one and two engine
processes measured, and with two both take calls (the generators' connections are spread)."""

from __future__ import annotations

import pytest

from loadtest import scaling
from loadtest.scaling import Options


@pytest.mark.load
@pytest.mark.timeout(240)
def test_scaling_measures_each_process_count() -> None:
    opts = Options(workers=(1, 2), subscribers=500, duration=2.0)
    points = scaling.run_scaling(opts, lambda message: None)

    assert [p.workers for p in points] == [1, 2]
    for point in points:
        assert not point.incidents
        for phase in (point.unary, point.batch):
            assert phase.events > 0
            assert phase.success == phase.events
            assert len(scaling.engine_cores(phase)) == point.workers
    two = points[1]
    # 8 connections over 2 processes: both get some in at least one phase, unless the kernel's
    # hash put all 16 on one process (odds 2 in 65,536).
    assert any(min(scaling.engine_cores(phase)) > 0.05 for phase in (two.unary, two.batch))
    text = scaling.render(points, opts, "pytest -m load")
    assert "| 2 | " in text.split("## Summary")[1]
