"""Moving entries of the engine's Redis streams into Postgres without losing or doubling one.

A consumer group per kind of stream. Each batch is handed to a handler that commits it to Postgres
(where unique keys turn a replayed entry into a no-op); only then are the entries acknowledged
(and deleted: these streams have no other reader). On start a consumer first takes back its own
pending entries, and it keeps claiming entries other consumers left pending for longer than
`claim_idle` (XAUTOCLAIM): a crash anywhere loses nothing and, thanks to the unique keys, stores
nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from prometheus_client import Counter
from redis.exceptions import RedisError, ResponseError

from tarif_common import keys, request_ids
from tarif_common.lifecycle import sleep_unless
from tarif_common.redis_client import RedisClient, is_cluster
from tarif_postgres.driver import DB_ERRORS

log = logging.getLogger(__name__)
_RETRIED: tuple[type[BaseException], ...] = (RedisError, *DB_ERRORS)


@dataclass(frozen=True, slots=True)
class Entry:
    stream: str
    id: str
    fields: dict[str, str]


# Stores a batch; returns the entries it could not make sense of (left pending, logged).
Handler = Callable[[Sequence[Entry]], Awaitable[Sequence[Entry]]]
# The number of records an entry holds (only for the records counter: one, unless an entry
# carries several, as a rated chunk's does).
RecordCount = Callable[[Entry], int]


def one_record(entry: Entry) -> int:
    return 1


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits in an ingestor's streams: stored entries are deleted, so every entry left is
    one not stored yet (new, in flight, failing, or unreadable)."""

    entries: int
    lag_seconds: float  # age of the oldest entry left, by the Redis clock; 0 when none is left


class StreamIngestor:
    def __init__(
        self,
        redis: RedisClient,
        name: str,
        streams: Sequence[str],
        handle: Handler,
        *,
        consumer: str,
        batch: int = 500,
        block_ms: int = 1000,
        claim_idle_ms: int = 30_000,
        ingested: Counter | None = None,
        records: Counter | None = None,
        record_count: RecordCount = one_record,
    ) -> None:
        self.name = name
        self._redis = redis
        self._streams = list(streams)
        self._handle = handle
        self._group = f"tarif-{name}"
        self._consumer = consumer
        self._batch = batch
        self._block_ms = block_ms
        self._claim_idle_ms = claim_idle_ms
        self._ingested = ingested
        self._records = records
        self._record_count = record_count

    async def prepare(self) -> None:
        """Create the consumer group on every stream (from the start: nothing written is missed)."""
        for stream in self._streams:
            try:
                await self._redis.xgroup_create(stream, self._group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def run(self, stop: asyncio.Event) -> None:
        await self.prepare()
        await self._drain_own_pending()
        while not stop.is_set():
            try:
                await self._claim_abandoned()
                await self.step()
            except _RETRIED as exc:
                log.warning("ingest.retry", extra={"ingestor": self.name, "error": repr(exc)})
                await sleep_unless(stop, 1.0)

    async def step(self) -> int:
        """Read and store one batch of new entries; returns how many were stored."""
        return await self._store(await self._read(">", block=True))

    async def _read(self, start: str, *, block: bool) -> list[Entry]:
        """One XREADGROUP over every stream. On a cluster the streams (one per partition) are
        in several slots and one command may name only one: a read per stream, all at once,
        without BLOCK (a blocked read would hold the others back); an empty round waits
        `block_ms` instead."""
        if not is_cluster(self._redis):
            reply = await self._redis.xreadgroup(
                self._group,
                self._consumer,
                dict.fromkeys(self._streams, start),
                count=self._batch,
                block=self._block_ms if block else None,
            )
            return _entries(reply)
        replies = await asyncio.gather(
            *(
                self._redis.xreadgroup(
                    self._group, self._consumer, {stream: start}, count=self._batch
                )
                for stream in self._streams
            )
        )
        entries = [entry for reply in replies for entry in _entries(reply)]
        if not entries and block:
            await asyncio.sleep(self._block_ms / 1000)
        return entries

    async def _drain_own_pending(self) -> None:
        """Entries this consumer read before a restart and never acknowledged."""
        while True:
            entries = await self._read("0", block=False)
            if not entries or not await self._store(entries):
                return

    async def _claim_abandoned(self) -> None:
        for stream in self._streams:
            start = "0-0"
            while True:
                reply = await self._redis.xautoclaim(
                    stream,
                    self._group,
                    self._consumer,
                    self._claim_idle_ms,
                    start_id=start,
                    count=self._batch,
                )
                start = keys.text(reply[0])
                claimed = [Entry(stream, keys.text(i), _text_fields(f)) for i, f in reply[1] if f]
                if claimed:
                    log.warning(
                        "ingest.claimed",
                        extra={"ingestor": self.name, "stream": stream, "count": len(claimed)},
                    )
                    await self._store(claimed)
                if start == "0-0":
                    break

    async def _store(self, entries: list[Entry]) -> int:
        if not entries:
            return 0
        rejected = {(e.stream, e.id) for e in await self._handle(entries)}
        done = [e for e in entries if (e.stream, e.id) not in rejected]
        for entry in entries:
            if (entry.stream, entry.id) in rejected:
                # the line carries the entry's request id (a rated record's `rq`) and its own id
                with request_ids.bound(entry.fields.get("rq")):
                    log.error(
                        "ingest.unreadable_entry",
                        extra={
                            "ingestor": self.name,
                            "stream": entry.stream,
                            "id": entry.id,
                            "record": entry.fields.get("id", ""),
                        },
                    )
        async with self._redis.pipeline(transaction=False) as pipe:
            for entry in done:
                pipe.xack(entry.stream, self._group, entry.id)
                pipe.xdel(entry.stream, entry.id)
            await pipe.execute()
        if self._ingested is not None and done:
            self._ingested.labels(self.name).inc(len(done))
        if self._records is not None and done:
            self._records.labels(self.name).inc(sum(map(self._record_count, done)))
        return len(done)

    async def pending(self) -> int:
        """Entries read but not yet acknowledged, over all streams (a gauge for operations)."""
        total = 0
        for stream in self._streams:
            info = await self._redis.xpending(stream, self._group)
            total += int(info["pending"])
        return total

    async def backlog(self) -> Backlog:
        """The entries left in the streams and the oldest one's age (the ingestion lag gauges).

        The age compares the entry's id (the Redis server's clock when the engine wrote it) with
        Redis' TIME, so a batch host whose clock is off does not skew it.
        """
        cluster = is_cluster(self._redis)  # a cluster pipeline takes keyed commands only
        async with self._redis.pipeline(transaction=False) as pipe:
            if not cluster:
                pipe.time()
            for stream in self._streams:
                pipe.xlen(stream)
                pipe.xrange(stream, count=1)
            replies = await pipe.execute()
        now = await self._redis.time() if cluster else replies.pop(0)
        now_ms = int(now[0]) * 1000 + int(now[1]) // 1000
        entries = sum(int(n) for n in replies[0::2])
        oldest = [int(keys.text(first[0][0]).split("-")[0]) for first in replies[1::2] if first]
        lag_ms = max(0, now_ms - min(oldest)) if oldest else 0
        return Backlog(entries, lag_ms / 1000)


def _text_fields(fields: dict[bytes | str, bytes | str]) -> dict[str, str]:
    return {keys.text(k): keys.text(v) for k, v in fields.items()}


def _entries(reply: object) -> list[Entry]:
    entries = []
    for stream, items in reply or []:  # type: ignore[attr-defined]
        name = keys.text(stream)
        for entry_id, fields in items:
            if fields:  # an entry deleted while pending comes back without fields
                entries.append(Entry(name, keys.text(entry_id), _text_fields(fields)))
    return entries
