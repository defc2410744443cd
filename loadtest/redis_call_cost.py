"""Client CPU of one EVALSHA: `python -m loadtest.redis_call_cost [--url URL] [--calls N]`.

What a unary ChargeEvent pays on the engine's side for its Redis round trip (measured: the
coalescer sends about one event per store call under unary load, docs/profile.md). Three
clients call the same trivial script with arguments of the size of one event's, 64 callers
with one call each in flight, and report their process's CPU per call:

* redis-py asyncio with the engine's pool (`BlockingConnectionPool`),
* redis-py asyncio with a plain `ConnectionPool`,
* one raw pipelined connection: an asyncio Protocol, RESP packed by hand, replies parsed with
  hiredis and matched to a FIFO of futures (what a lean event-script transport could be).

The script writes nothing; it runs on database 15 of the given Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import hiredis
import msgpack  # type: ignore[import-untyped]
import uvloop
from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis

SCRIPT = "return #ARGV[1]"
KEYS = ["tarif:{p3}:a:lt0000123", "tarif:{p3}:i:e:lt-ev-123456-7", "tarif:{p3}:rated"]
EVENT = {  # about one packed event of the engine's
    "s": "38640000061",
    "v": "sms",
    "e": "lt-ev-123456-7",
    "u": 1,
    "a": 0,
    "t": 1764410000000,
    "q": list(range(20)),
    "c": "202611",
    "h": "0123456789abcdef",
    "rq": "0123456789abcdef0123456789abcdef",
}
CONCURRENCY = 64


class RawConnection(asyncio.Protocol):
    """Pipelined RESP over one connection: replies come in the order of the commands."""

    def __init__(self) -> None:
        self._reader = hiredis.Reader()
        self._waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._transport: asyncio.WriteTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.WriteTransport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            self._waiting.popleft().set_result(reply)

    def call(self, *args: bytes | str | int) -> asyncio.Future[Any]:
        assert self._transport is not None
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self._transport.write(b"".join(parts))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        return future

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def _cost(call: Callable[[], Awaitable[Any]], calls: int) -> tuple[float, float]:
    """(CPU µs per call, calls/s) of `calls` calls by CONCURRENCY callers, after a warm-up."""

    async def caller() -> None:
        for _ in range(calls // CONCURRENCY):
            await call()

    await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = calls // CONCURRENCY * CONCURRENCY
    return cpu / done * 1e6, done / wall


async def measure(url: str, calls: int, rounds: int) -> list[tuple[str, float, float]]:
    arg = msgpack.packb(EVENT)
    args = [arg, 1764410000000, 604800]
    loader = Redis.from_url(url)
    sha = await loader.script_load(SCRIPT)
    await loader.aclose()
    rows = []
    for _ in range(rounds):
        pools: list[tuple[str, ConnectionPool]] = [
            (
                "redis-py, BlockingConnectionPool",
                BlockingConnectionPool.from_url(url, max_connections=64, timeout=5),
            ),
            ("redis-py, ConnectionPool", ConnectionPool.from_url(url, max_connections=64)),
        ]
        for label, pool in pools:
            client = Redis(connection_pool=pool)
            script = client.register_script(SCRIPT)
            call = functools.partial(script, keys=KEYS, args=args)
            rows.append((label, *await _cost(call, calls)))
            await client.aclose()
            await pool.disconnect()
        host, _, port = url.removeprefix("redis://").split("/")[0].partition(":")
        _, raw = await asyncio.get_running_loop().create_connection(
            RawConnection, host, int(port or 6379)
        )
        await raw.call("SELECT", 15)
        evalsha = functools.partial(raw.call, "EVALSHA", sha, len(KEYS), *KEYS, *args)
        rows.append(("raw pipelined connection", *await _cost(evalsha, calls)))
        raw.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.redis_call_cost", description=__doc__)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    rows = uvloop.run(measure(args.url, args.calls, args.rounds))
    print("| client | CPU µs per call | calls/s |\n|---|---|---|")
    for label, cpu, rate in rows:
        print(f"| {label} | {cpu:.1f} | {rate:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
