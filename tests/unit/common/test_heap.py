"""`heap.settle` freezes what start-up left, in a process of its own (not pytest's)."""

from __future__ import annotations

import subprocess
import sys


def test_settle_freezes_the_objects_alive() -> None:
    code = (
        "import gc; from tarif_common import heap\n"
        "before = gc.get_freeze_count()\n"
        "frozen = heap.settle()\n"
        "assert before == 0 and frozen == gc.get_freeze_count() > 1000, (before, frozen)\n"
        "assert sum(gc.get_count()) < 100, gc.get_count()  # nothing left young\n"
        "print(frozen)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 1000
