"""Background work of an engine process: releasing abandoned sessions, refreshing gauges.

Lazy expiry inside the scripts already frees an account's expired reservations the next time it
charges; the sweeper frees them even if the account never comes back, so reserved credit and the
open-session gauge stay true.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from engine.metrics import EngineMetrics
from tarif_balances.ports import SessionSweepStore
from tarif_common import keys
from tarif_common.lifecycle import every
from tarif_common.redis_client import RedisClient

log = logging.getLogger(__name__)

SWEEP_BATCH = 200


class Sweeper:
    def __init__(
        self,
        store: SessionSweepStore,
        partitions: int,
        metrics: EngineMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._partitions = partitions
        self._metrics = metrics
        self._clock = clock

    async def run_once(self) -> int:
        """Release every session whose validity (plus grace) has passed; returns how many."""
        released = 0
        now_ms = int(self._clock() * 1000)
        for partition in range(self._partitions):
            while True:
                expired = await self._store.expired_sessions(partition, now_ms, SWEEP_BATCH)
                for account, session_id in expired:
                    if await self._store.expire_session(partition, account, session_id, now_ms):
                        released += 1
                if len(expired) < SWEEP_BATCH:
                    break
        if released:
            self._metrics.sessions_expired.inc(released)
            log.info("sessions.expired", extra={"released": released})
        return released

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        await every(interval, self.run_once, "sweeper", stop)


async def refresh_gauges(redis: RedisClient, partitions: int, metrics: EngineMetrics) -> None:
    """Open sessions and reserved units, summed over the partitions' counters."""
    async with redis.pipeline(transaction=False) as pipe:
        for partition in range(partitions):
            pipe.hgetall(keys.partition_stats(partition))
        replies = await pipe.execute()
    open_sessions = 0
    reserved: dict[str, int] = {}
    for stats in replies:
        for name, value in stats.items():
            field = name.decode()
            if field == "open":
                open_sessions += int(value)
            elif field.startswith("rv:"):
                reserved[field[3:]] = reserved.get(field[3:], 0) + int(value)
    metrics.open_sessions.set(open_sessions)
    for resource, units in reserved.items():
        metrics.reserved_units.labels(resource).set(units)


async def watch_gauges(
    redis: RedisClient,
    partitions: int,
    metrics: EngineMetrics,
    interval: float,
    stop: asyncio.Event,
) -> None:
    await every(interval, lambda: refresh_gauges(redis, partitions, metrics), "gauges", stop)
