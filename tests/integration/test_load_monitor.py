"""The benchmark's process monitor counts a watched process with its children, as the bench
needs for `tarif engine --workers N` (the first engine process starts the others)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import psutil  # type: ignore[import-untyped]
import pytest

from loadtest.workers import Monitor

# A parent that starts a child busy on a core, then both wait to be killed.
TREE = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
print(child.pid, flush=True)
time.sleep(60)
"""


@pytest.fixture
def tree() -> Iterator[tuple[int, int]]:
    with subprocess.Popen(
        [sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        try:
            yield parent.pid, child
        finally:
            psutil.Process(child).kill()
            parent.kill()


def test_cpu_and_rss_are_summed_over_the_tree_and_kept_per_process(tree: tuple[int, int]) -> None:
    parent, child = tree
    with Monitor({"engine": parent}, interval=0.05) as monitor:
        before = monitor.cpu()
        time.sleep(0.5)
        after = monitor.cpu()
        rss = monitor.rss()
    spent = {name: after[name] - before[name] for name in after if name in before}

    assert spent[f"engine/{child}"] > 0.1  # the busy child is counted, under its own pid too
    assert spent["engine"] == pytest.approx(spent[f"engine/{parent}"] + spent[f"engine/{child}"])
    sizes = [psutil.Process(pid).memory_info().rss for pid in (parent, child)]
    assert rss["engine"] == pytest.approx(sum(sizes), rel=0.2)
    assert monitor.max_rss["engine"] >= monitor.max_rss_process["engine"] > 0
    assert monitor.max_rss_process["engine"] < monitor.max_rss["engine"]  # two processes
