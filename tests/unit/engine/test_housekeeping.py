"""Background loops outlive transient Redis errors; other errors end them."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from tarif_common.errors import StoreUnavailable
from tarif_common.lifecycle import every


async def test_transient_errors_are_survived() -> None:
    calls: list[int] = []
    fourth = asyncio.Event()

    async def work() -> None:
        calls.append(len(calls))
        if len(calls) == 4:
            fourth.set()
        if len(calls) == 1:
            raise StoreUnavailable("Too many connections")
        if len(calls) == 2:
            raise RedisConnectionError("reset by peer")

    task = asyncio.create_task(every(0.001, work, "test", asyncio.Event()))
    await asyncio.wait_for(fourth.wait(), 1)
    task.cancel()
    assert len(calls) >= 4


async def test_a_bug_ends_the_loop() -> None:
    async def work() -> None:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        await asyncio.wait_for(every(0.001, work, "test", asyncio.Event()), 1)


async def test_the_loop_ends_on_stop_even_if_work_swallows_cancellation() -> None:
    """A cancel landing inside a client call can be swallowed; the stop event still ends it."""
    stop = asyncio.Event()
    started = asyncio.Event()

    async def stubborn() -> None:
        started.set()
        with contextlib.suppress(asyncio.CancelledError):  # as a misbehaving client may do
            await asyncio.sleep(10)

    task = asyncio.create_task(every(60, stubborn, "test", stop))
    await started.wait()
    stop.set()
    task.cancel()
    await asyncio.wait_for(task, 1)
