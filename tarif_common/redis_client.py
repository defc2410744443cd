"""One way for every process to reach Redis: a single server or a Redis (Valkey) Cluster.

`REDIS_URL=redis://host:6379/0` is one server; `redis+cluster://host:7000` (or `rediss+cluster`)
is a cluster reached through any of its nodes (the client learns the others and the slot map).
`connect` is the only place a client is built, so the code above runs unchanged on either.

On a cluster a command may touch only keys of one hash slot: the charging scripts do (one
partition tag each, see `keys`), but a few writes span slots (an account and the routes of its
services). `write_in_order` runs such a write as one MULTI/EXEC on a single server and, on a
cluster, as its steps in the order given: each step atomic in its slot, the order chosen so
that a crash between two steps leaves a state the engine handles and a re-run finishes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster

RedisClient: TypeAlias = Redis | RedisCluster
RedisPipeline: TypeAlias = Pipeline | ClusterPipeline

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def is_cluster_url(url: str) -> bool:
    return urlsplit(url).scheme in CLUSTER_SCHEMES


def cluster_url(host: str, port: int) -> str:
    return f"redis+cluster://{host}:{port}"


def connect(
    url: str,
    *,
    max_connections: int | None = None,
    pool_timeout: float | None = None,
    health_check_interval: int = 0,
) -> RedisClient:
    """A client for `url`. `max_connections` bounds the connections (per node on a cluster);
    with `pool_timeout` a single server's pool makes a request wait that long for a free one.

    On a cluster a request finding every connection to its node busy fails at once
    (MaxConnectionsError, a ConnectionError: the store answers it as unavailable), so callers
    size `max_connections` to their concurrency there."""
    parts = urlsplit(url)
    if parts.scheme in CLUSTER_SCHEMES:
        plain = urlunsplit(parts._replace(scheme=CLUSTER_SCHEMES[parts.scheme]))
        options: dict[str, Any] = {"health_check_interval": health_check_interval}
        if max_connections is not None:
            options["max_connections"] = max_connections
        return RedisCluster.from_url(plain, **options)
    if max_connections is None:
        return Redis.from_url(url, health_check_interval=health_check_interval)
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=pool_timeout,
        health_check_interval=health_check_interval,
    )
    return Redis.from_pool(pool)  # closing the client closes its pool


def is_cluster(client: RedisClient) -> bool:
    return isinstance(client, RedisCluster)


async def mget(client: RedisClient, names: Sequence[str]) -> list[Any]:
    """Values of many keys in one round trip on one server; on a cluster one MGET per slot
    (not atomic: each value is read at its own moment)."""
    if not names:
        return []
    if isinstance(client, RedisCluster):
        return await client.mget_nonatomic(list(names))
    return await client.mget(list(names))


@dataclass(frozen=True, slots=True)
class Step:
    """Commands queued on a pipeline by `add`. `one_slot`: its keys share one hash slot, so on a
    cluster it runs as MULTI/EXEC; otherwise (keys in several slots, each command idempotent)
    as a plain pipeline, one batch per node."""

    add: Callable[[RedisPipeline], object]
    one_slot: bool = True


async def write_in_order(client: RedisClient, steps: Sequence[Step]) -> None:
    """One MULTI/EXEC of every step on a single server (atomic, as always); on a cluster the
    steps one after the other, in the order given."""
    if not isinstance(client, RedisCluster):
        async with client.pipeline(transaction=True) as pipe:
            for step in steps:
                step.add(pipe)
            await pipe.execute()
        return
    for step in steps:
        async with client.pipeline(transaction=step.one_slot) as pipe:
            step.add(pipe)
            if len(pipe):
                await pipe.execute()
