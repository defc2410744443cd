"""The coalescer merges concurrent submissions into one store call and splits the answers back."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from engine import coalescer
from engine.coalescer import EventCoalescer
from tarif_balances.model import EventOutcome, EventStep, Route
from tarif_balances.ports import EventCall, StaleRoute
from tarif_common.errors import StoreUnavailable
from tarif_common.results import Result
from tests.unit.engine.fakes import AT, QUOTE


def call(event_id: str) -> EventCall:
    step = EventStep("s", "voice", event_id, AT, {"destination": "39061234"}, 1)
    return EventCall(Route(0, "a", "basic"), step, QUOTE)


class RecordingStore:
    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.fail = fail

    async def events(
        self, calls: Sequence[EventCall], now_ms: int
    ) -> list[EventOutcome | StaleRoute]:
        self.batches.append([c.step.event_id for c in calls])
        await asyncio.sleep(0)
        if self.fail:
            raise StoreUnavailable("down")
        return [EventOutcome(Result.SUCCESS, c.step.event_id) for c in calls]

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected store call {name}")


async def test_concurrent_submissions_share_one_store_call() -> None:
    store = RecordingStore()
    merged = EventCoalescer(store)
    results = await asyncio.gather(
        merged.events([call("a")], 1),
        merged.events([call("b"), call("c")], 2),
        merged.events([call("d")], 3),
    )
    assert store.batches == [["a", "b", "c", "d"]]
    ids = [
        [answer.event_id for answer in result if isinstance(answer, EventOutcome)]
        for result in results
    ]
    assert ids == [["a"], ["b", "c"], ["d"]]


async def test_flushes_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(coalescer, "MAX_FLUSH", 3)
    store = RecordingStore()
    merged = EventCoalescer(store)
    await asyncio.gather(*(merged.events([call(str(i))], 0) for i in range(7)))
    assert [len(batch) for batch in store.batches] == [3, 3, 1]


async def test_a_store_failure_reaches_every_waiter() -> None:
    merged = EventCoalescer(RecordingStore(fail=True))
    results = await asyncio.gather(
        merged.events([call("a")], 0), merged.events([call("b")], 0), return_exceptions=True
    )
    assert all(isinstance(r, StoreUnavailable) for r in results)
