"""Client CPU of one EVALSHA: `python -m loadtest.redis_call_cost [--url URL] [--calls N]`.

What a unary ChargeEvent pays on the engine's side for its Redis round trip (measured: the
coalescer sends about one event per store call under unary load, docs/profile.md). Three
clients call the same trivial script with arguments of the size of one event's, 64 callers
with one call each in flight, and report their process's CPU per call:

* redis-py asyncio with the engine's pool (`BlockingConnectionPool`),
* redis-py asyncio with a plain `ConnectionPool`,
* the engine's own transport for the charging scripts (`tarif_common.redis_pipe.ScriptPipe`):
  one pipelined connection, RESP packed in one join, replies parsed with hiredis and matched to
  a FIFO of futures.

The script writes nothing; it runs on database 15 of the given Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack  # type: ignore[import-untyped]
import uvloop
from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis

from tarif_common.redis_pipe import LuaScript, ScriptCall, ScriptPipe

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
        pipe = ScriptPipe.for_client(url, loader)
        lua = LuaScript(SCRIPT)
        one = [ScriptCall(lua, KEYS, args)]
        run_one = functools.partial(pipe.run, one)
        rows.append(("tarif ScriptPipe (the engine's)", *await _cost(run_one, calls)))
        await pipe.aclose()
    await loader.aclose()
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
