"""Which chains loop: a job chained after a parent must not be above that parent."""

from __future__ import annotations

import pytest

from tarif_jobs.chains import ChainLoop, loop_of


@pytest.mark.parametrize(
    ("job_id", "above_parent", "loop"),
    [
        (None, [1, 2, 3], None),  # a new job closes no loop
        (4, [1, 2, 3], None),
        (2, [1, 2], [2, 1, 2]),  # A=2 after B=1, where B runs after A
        (3, [1, 2, 3], [3, 2, 1, 3]),
        (3, [1, 3, 5], [3, 1, 3]),  # only the jobs up to the job itself are in the loop
    ],
)
def test_loop_of(job_id: int | None, above_parent: list[int], loop: list[int] | None) -> None:
    assert loop_of(job_id, above_parent) == loop


def test_the_loop_is_named_in_run_order() -> None:
    error = ChainLoop([3, 2, 1, 3])
    assert "job 3 -> job 2 -> job 1 -> job 3" in error.message
    assert error.loop == [3, 2, 1, 3]
