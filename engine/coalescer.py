"""Coalesce concurrent event charges into one store call per event-loop tick.

Under load many unary ChargeEvent calls are in flight at once. Each would pay a full Redis round
trip and client overhead; instead, the calls submitted during one loop iteration are sent
together (one EVALSHA per partition, pipelined). Every event stays its own atomic step inside the
script, in submission order, so results are the same as one call at a time; latency grows by at
most one loop iteration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tarif_balances.model import EventOutcome
from tarif_balances.ports import ChargingStore, EventCall, StaleRoute

Answered = EventOutcome | StaleRoute

# Upper bound of events per flush: keeps one script run short (Redis runs one script at a time).
MAX_FLUSH = 1000


class EventCoalescer:
    def __init__(self, store: ChargingStore) -> None:
        self._store = store
        self._pending: list[tuple[Sequence[EventCall], int, asyncio.Future[list[Answered]]]] = []
        self._scheduled = False
        self._sending: set[asyncio.Task[None]] = set()  # held so the tasks are not collected

    async def events(self, calls: Sequence[EventCall], now_ms: int) -> list[Answered]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Answered]] = loop.create_future()
        self._pending.append((calls, now_ms, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, []
        group: list[tuple[Sequence[EventCall], int, asyncio.Future[list[Answered]]]] = []
        size = 0
        for item in pending:
            if group and size + len(item[0]) > MAX_FLUSH:
                self._start(group)
                group, size = [], 0
            group.append(item)
            size += len(item[0])
        if group:
            self._start(group)

    def _start(
        self, group: list[tuple[Sequence[EventCall], int, asyncio.Future[list[Answered]]]]
    ) -> None:
        task = asyncio.create_task(self._send(group))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(
        self, group: list[tuple[Sequence[EventCall], int, asyncio.Future[list[Answered]]]]
    ) -> None:
        calls = [call for item in group for call in item[0]]
        try:
            answers = await self._store.events(calls, max(item[1] for item in group))
        except BaseException as exc:  # every waiter gets the failure, none is left hanging
            for _, _, future in group:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        start = 0
        for item_calls, _, future in group:
            if not future.done():
                future.set_result(answers[start : start + len(item_calls)])
            start += len(item_calls)
