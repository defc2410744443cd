"""The ingestion lag gauges: what is left in an ingestor's streams and how old the oldest is."""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from billing_batch.streams import Backlog, Entry, Handler, StreamIngestor
from tarif_common import keys

STREAMS = [keys.rated_stream(0), keys.rated_stream(1)]


async def store_all(entries: Sequence[Entry]) -> list[Entry]:
    return []


async def store_none(entries: Sequence[Entry]) -> list[Entry]:
    return list(entries)  # unreadable: left pending, never deleted


def ingestor(redis: Redis, handle: Handler) -> StreamIngestor:
    return StreamIngestor(redis, "rated", STREAMS, handle, consumer="a", block_ms=10)


async def redis_ms(redis: Redis) -> int:
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def test_empty_streams_have_no_backlog(redis: Redis) -> None:
    it = ingestor(redis, store_all)
    await it.prepare()
    assert await it.backlog() == Backlog(0, 0.0)


async def test_the_lag_is_the_oldest_entry_s_age_over_all_streams(redis: Redis) -> None:
    now = await redis_ms(redis)
    await redis.xadd(STREAMS[1], {"id": "new"}, id=f"{now - 5_000}-0")
    await redis.xadd(STREAMS[0], {"id": "old"}, id=f"{now - 90_000}-0")
    await redis.xadd(STREAMS[0], {"id": "newer"}, id=f"{now - 1_000}-0")
    it = ingestor(redis, store_all)
    await it.prepare()
    backlog = await it.backlog()
    assert backlog.entries == 3
    assert 90.0 <= backlog.lag_seconds < 100.0

    assert await it.step() == 3  # stored entries are deleted: nothing waits any more
    assert await it.backlog() == Backlog(0, 0.0)


async def test_an_entry_that_cannot_be_stored_keeps_the_lag_growing(redis: Redis) -> None:
    now = await redis_ms(redis)
    await redis.xadd(STREAMS[0], {"id": "bad"}, id=f"{now - 600_000}-0")
    it = ingestor(redis, store_none)
    await it.prepare()
    assert await it.step() == 0
    backlog = await it.backlog()
    assert backlog.entries == 1
    assert backlog.lag_seconds >= 600.0
    assert await it.pending() == 1
