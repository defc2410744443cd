"""The raw limit: `event.lua` driven straight over a socket, with no gRPC and no engine in the path.

Keys, arguments and script text are built exactly as `tarif_balances.store.RedisBalanceStore` builds
them (`tarif_balances.scripts`: `script_source("event")`, `event_script_call` of the real rate),
and batches are split per partition into chunks of `StoreLimits.batch_chunk` like the engine, so
the engine/raw ratio isolates the engine's own cost. Commands are encoded with
`hiredis.pack_command` and replies parsed with `hiredis.Reader`, on a few pipelined connections
with a bounded number of events in flight.
"""

from __future__ import annotations

import asyncio
import collections
import random
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

import hiredis
import msgpack  # type: ignore[import-untyped]

from loadtest import wire
from loadtest.setup import PLAN, demo_catalog, msisdn, route_of
from loadtest.workers import Gate, Result, tally
from tarif_balances.model import EventStep, Route
from tarif_balances.ports import EventCall
from tarif_balances.scripts import event_script_call, script_source
from tarif_balances.store import StoreLimits
from tarif_catalog import CompiledCatalog, Quote, parse_catalog
from tarif_common.settings import Settings

BATCH_CHUNK = StoreLimits(0, 0, 0).batch_chunk
IDEMPOTENCY_TTL = Settings().idempotency_ttl
RETRY_TTL = Settings().retry_ttl
DRAIN_TIMEOUT = 10.0
# As long as a real request fingerprint (`engine.fingerprints`), so the script stores the same
# bytes; computing it is the engine's cost, which the raw path leaves out.
FINGERPRINT = "0" * 16


def sms_quote() -> Quote:
    """The quote the engine makes for our SMS events (from the real compiled catalog)."""
    compiled = CompiledCatalog(parse_catalog(demo_catalog()))
    return compiled.quote(PLAN, wire.SERVICE, wire.ATTRIBUTES, datetime.now(UTC), wire.UNITS)


def event_script() -> str:
    return script_source("event")


class _Commands:
    """Builds EVALSHA commands for events, grouped like `RedisBalanceStore.events`."""

    def __init__(self, sha: str, quote: Quote, subscribers: int, tag: str) -> None:
        self._sha, self._quote, self._tag = sha, quote, tag
        self._subs = [(msisdn(i), *route_of(i)) for i in range(subscribers)]
        self._counter = 0

    def batch(self, indexes: list[int]) -> list[tuple[bytes, int]]:
        """(encoded command, events in it) per partition chunk of the given subscribers."""
        groups: dict[int, list[int]] = {}
        for index in indexes:
            groups.setdefault(self._subs[index][1], []).append(index)
        now_ms = int(time.time() * 1000)
        commands = []
        for partition, members in groups.items():
            for first in range(0, len(members), BATCH_CHUNK):
                chunk = members[first : first + BATCH_CHUNK]
                commands.append((self._chunk(partition, chunk, now_ms), len(chunk)))
        return commands

    def _chunk(self, p: int, chunk: list[int], now_ms: int) -> bytes:
        calls = []
        at = datetime.fromtimestamp(now_ms / 1000, UTC)
        for index in chunk:
            subscriber, _, account = self._subs[index]
            self._counter += 1
            step = EventStep(subscriber, wire.SERVICE, f"{self._tag}-{self._counter}", at,
                             wire.ATTRIBUTES, wire.UNITS)  # fmt: skip
            route = Route(p, account, PLAN)
            calls.append(EventCall(route, step, self._quote, fingerprint=FINGERPRINT))
        script_keys, args = event_script_call(calls, now_ms, IDEMPOTENCY_TTL, RETRY_TTL)
        command: tuple[Any, ...] = ("EVALSHA", self._sha, len(script_keys), *script_keys, *args)
        return bytes(hiredis.pack_command(command))


async def _connection(
    spec: dict[str, Any],
    commands: _Commands,
    rng: random.Random,
    window: int,
    start: float,
    results: collections.Counter[int],
    errors: collections.Counter[str],
    sent: list[int],
) -> None:
    """One pipelined connection keeping about `window` events in flight until the window ends."""
    reader, writer = await asyncio.open_connection(spec["host"], spec["port"])
    parser = hiredis.Reader()
    in_flight: deque[int] = deque()  # events per outstanding command, in send order
    n, batch, end = spec["subscribers"], spec["batch"], start + spec["duration"]

    async def reply() -> Any:
        while (answer := parser.gets()) is False:
            data = await reader.read(1 << 20)
            if not data:
                raise ConnectionError("Redis closed the connection")
            parser.feed(data)
        return answer

    try:
        outstanding = 0
        while True:
            now = time.monotonic()
            if now < end:
                while outstanding + batch <= window:
                    for payload, count in commands.batch([rng.randrange(n) for _ in range(batch)]):
                        writer.write(payload)
                        sent[0] += count
                        in_flight.append(count)
                        outstanding += count
                await writer.drain()
            elif not in_flight or now > end + DRAIN_TIMEOUT:
                break
            answer = await reply()
            outstanding -= in_flight.popleft()
            if isinstance(answer, hiredis.ReplyError):
                errors[str(answer).split(" ", 1)[0]] += 1
            elif time.monotonic() <= end:
                results.update(msgpack.unpackb(raw)["r"] for raw in answer)
    finally:
        writer.close()


async def _load_script(host: str, port: int) -> str:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        load: tuple[Any, ...] = ("SCRIPT", "LOAD", event_script())
        writer.write(hiredis.pack_command(load))
        parser = hiredis.Reader()
        while (answer := parser.gets()) is False:
            parser.feed(await reader.read(4096))
        return str(answer.decode())
    finally:
        writer.close()


async def raw_job(spec: dict[str, Any], gate: Gate) -> Result:
    """`connections` pipelined connections, `window` events in flight over all of them.

    Several connections, like the engine's pool: with appendfsync=always Redis fsyncs once per
    event-loop turn, and one connection alone would get fewer commands into each turn.
    """
    rng = random.Random(spec["seed"])
    sha = await _load_script(spec["host"], spec["port"])
    commands = _Commands(sha, spec["quote"], spec["subscribers"], spec["tag"])
    results: collections.Counter[int] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    connections = spec["connections"]
    window = max(spec["batch"], spec["window"] // connections)
    sent = [0]  # events sent, answered in the window or after it
    start = await gate.wait()
    cpu0 = time.process_time()
    await asyncio.gather(
        *(
            _connection(spec, commands, rng, window, start, results, errors, sent)
            for _ in range(connections)
        )
    )
    return tally(results, errors, time.process_time() - cpu0, sent=sent[0])


class _Now:
    """A `Gate` for a job run in this process: start at once."""

    async def wait(self) -> float:
        return time.monotonic()


def _redis_figures(client: Any, partitions: int) -> dict[str, float]:
    """Counters of the Redis server that the per-event figures are deltas of (`entries`: of the
    rated streams; a chunk's records are one entry)."""
    from tarif_common import keys

    stats = client.info("commandstats").get("cmdstat_evalsha", {})
    cpu = client.info("cpu")
    persistence = client.info("persistence")
    return {
        "evalsha_usec": float(stats.get("usec", 0)),
        "cpu_s": float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]),
        "aof_bytes": float(persistence.get("aof_current_size", 0)),
        "entries": float(sum(client.xlen(keys.rated_stream(p)) for p in range(partitions))),
    }


def rated_streams(client: Any, partitions: int) -> tuple[int, int]:
    """Rated records in the streams and their bytes (MEMORY USAGE). A chunk's records are one
    entry: every entry is read (in pages) and its records counted, since batched and unary
    phases leave entries of very different sizes in one stream."""
    from tarif_balances.records import BATCH, RECORDS_SEPARATOR
    from tarif_common import keys

    batch, separator = BATCH.encode(), RECORDS_SEPARATOR.encode()
    records = 0
    size = 0
    for p in range(partitions):
        stream = keys.rated_stream(p)
        size += int(client.memory_usage(stream, samples=0) or 0)
        start = "-"
        while page := client.xrange(stream, min=start, count=1000):
            for _, fields in page:
                texts = fields.get(batch)
                records += 1 if texts is None else texts.count(separator) + 1
            start = "(" + page[-1][0].decode()
    return records, size


def _sizes(client: Any, subscribers: int, partitions: int) -> dict[str, float]:
    """MEMORY USAGE (exact) of an account hash, one stored answer, and a rated record."""
    from loadtest.setup import route_of as account_route
    from tarif_common import keys

    sample = range(0, subscribers, max(1, subscribers // 100))
    account = [
        int(client.memory_usage(keys.account(*account_route(i)), samples=0) or 0) for i in sample
    ]
    answer = 0
    _, found = client.scan(0, match="tarif:{p*}:i:*", count=10_000)
    if found:
        answer = int(client.memory_usage(found[0], samples=0) or 0)
    records, size = rated_streams(client, partitions)
    return {
        "account_bytes": sum(account) / len(account),
        "answer_bytes": answer,
        "stream_bytes_per_record": size / records if records else 0.0,
    }


def main() -> None:
    """Only the raw batched phase, against a running Redis: events/s, Redis CPU per event, AOF
    bytes per event and memory per account, stored answer and rated record, as one JSON line.
    For before/after comparisons: run it alternately against two servers, one per variant."""
    import argparse
    import json

    import redis

    from loadtest.setup import PARTITIONS, provision

    parser = argparse.ArgumentParser(prog="python -m loadtest.raw", description=main.__doc__)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--window", type=int, default=4_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--provision", action="store_true", help="create the accounts first")
    parser.add_argument("--tag", default=f"raw{int(time.time())}")
    args = parser.parse_args()
    if args.provision:
        asyncio.run(provision(args.redis_url, args.subscribers))
    client = redis.Redis.from_url(args.redis_url)
    url = client.connection_pool.connection_kwargs
    spec = {
        "host": url.get("host", "127.0.0.1"),
        "port": url.get("port", 6379),
        "subscribers": args.subscribers,
        "quote": sms_quote(),
        "duration": args.duration,
        "batch": args.batch,
        "window": args.window,
        "connections": args.connections,
        "seed": 1,
        "tag": args.tag,
    }
    before = _redis_figures(client, PARTITIONS)
    result = asyncio.run(raw_job(spec, _Now()))  # type: ignore[arg-type]
    after = _redis_figures(client, PARTITIONS)
    calls = int(client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))
    delta = {name: after[name] - before[name] for name in after}
    events = max(1, result["sent"])  # every event Redis ran, in the window or after it
    figures = {
        "events_per_s": result["events"] / args.duration,
        "evalsha_us_per_event": delta["evalsha_usec"] / events,
        "redis_cpu_us_per_event": delta["cpu_s"] * 1e6 / events,
        "aof_bytes_per_event": delta["aof_bytes"] / events,
        "stream_entries_per_event": delta["entries"] / events,
        "evalsha_calls": calls,
        "results": result["results"],
        "errors": result["errors"],
        **_sizes(client, args.subscribers, PARTITIONS),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
