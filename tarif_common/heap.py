"""What a long-running process does with its heap once it has started.

CPython's collector scans every tracked object of a generation it collects. After start-up a
process holds tens of thousands of objects that live as long as it does (modules, the compiled
catalog, gRPC's and pydantic's objects), and under load every full (generation 2) collection
scanned them all again: 30-130 ms pauses in the engine, which set the open loop's p99
(docs/profile.md). `settle()` collects once, then moves every object alive to the permanent
generation, where the collector no longer looks; later collections scan only what requests
made. Objects frozen are still freed by reference counting, only a cycle among them would stay.
"""

from __future__ import annotations

import gc


def settle() -> int:
    """Collect, then freeze what is left; returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
