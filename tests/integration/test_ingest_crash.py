"""Stream ingestion survives crashes: commit, then acknowledge; claim what a dead consumer left."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from billing_batch.metrics import BatchMetrics
from billing_batch.streams import Entry, StreamIngestor
from billing_batch.unrated import UnratedIngest
from tarif_common import keys


class Crash(Exception):
    pass


def unrated_fields(i: int) -> dict[str, str]:
    return {
        "id": f"e:lost-{i}",
        "reason": "unknown_subscriber",
        "m": "unknown subscriber",
        "sub": "38699000000",
        "svc": "sms",
        "t": "1763463540000",
        "u": "1",
        "attrs": '{"destination":"38641000000"}',
        "at": "1763463540000",
    }


async def stored(pg: asyncpg.Pool) -> list[str]:
    async with pg.acquire() as conn:
        return [r["event_id"] for r in await conn.fetch("SELECT event_id FROM unrated_events")]


def ingestor(redis: Redis, handler: object, consumer: str) -> StreamIngestor:
    return StreamIngestor(
        redis, "unrated", [keys.UNRATED], handler, consumer=consumer, claim_idle_ms=1, block_ms=10
    )  # type: ignore[arg-type]


async def test_a_consumer_that_dies_after_commit_leaves_nothing_lost_nor_doubled(
    redis: Redis, pg: asyncpg.Pool
) -> None:
    real = UnratedIngest(pg, BatchMetrics(CollectorRegistry()))
    for i in range(5):
        await redis.xadd(keys.UNRATED, unrated_fields(i))

    async def commit_then_die(entries: Sequence[Entry]) -> list[Entry]:
        await real(entries)
        raise Crash  # dies between the Postgres commit and XACK

    first = ingestor(redis, commit_then_die, "a")
    await first.prepare()
    with pytest.raises(Crash):
        await first.step()
    assert await first.pending() == 5
    # Another consumer claims the abandoned entries; storing them again adds nothing.
    second = ingestor(redis, real, "b")
    await second._claim_abandoned()
    assert await second.pending() == 0
    assert sorted(await stored(pg)) == [f"lost-{i}" for i in range(5)]
    assert await redis.xlen(keys.UNRATED) == 0  # acknowledged entries are deleted


async def test_a_restarted_consumer_first_takes_back_its_own_pending_entries(
    redis: Redis, pg: asyncpg.Pool
) -> None:
    real = UnratedIngest(pg, BatchMetrics(CollectorRegistry()))
    for i in range(3):
        await redis.xadd(keys.UNRATED, unrated_fields(i))

    async def die(entries: Sequence[Entry]) -> list[Entry]:
        raise Crash  # dies before committing anything

    crashed = ingestor(redis, die, "same")
    await crashed.prepare()
    with pytest.raises(Crash):
        await crashed.step()
    assert await stored(pg) == []
    restarted = ingestor(redis, real, "same")
    await restarted._drain_own_pending()
    assert sorted(await stored(pg)) == ["lost-0", "lost-1", "lost-2"]
    assert await restarted.pending() == 0


async def test_an_unreadable_entry_stays_pending_and_does_not_block_the_others(
    redis: Redis, pg: asyncpg.Pool
) -> None:
    real = UnratedIngest(pg, BatchMetrics(CollectorRegistry()))
    await redis.xadd(keys.UNRATED, {"id": "e:broken", "u": "not a number"})
    await redis.xadd(keys.UNRATED, unrated_fields(1))
    consumer = ingestor(redis, real, "c")
    await consumer.prepare()
    assert await consumer.step() == 1
    assert await stored(pg) == ["lost-1"]
    assert await consumer.pending() == 1  # kept for a human to look at, not dropped
