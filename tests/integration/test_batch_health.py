"""The batch's `/healthz` and `/readyz`, on its metrics port, over real Postgres and Redis: Redis
taken away through a proxy and given back, an ingest loop that stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from billing_batch.app import BatchApp
from tarif_common import keys
from tests.integration.notifier_harness import batch_settings, eventually
from tests.integration.tcp_proxy import TcpProxy, proxied

PROBLEM = "application/problem+json"


@pytest.fixture
async def batch(
    redis: Redis, redis_url: str, database_url: str
) -> AsyncIterator[tuple[BatchApp, TcpProxy, httpx.AsyncClient]]:
    async with proxied(redis_url) as (url, proxy):
        settings = batch_settings(url, database_url, jobs_enabled=False)
        async with (
            BatchApp(settings, idle_poll=0.05) as app,
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{app.metrics_port}", timeout=10
            ) as client,
        ):
            yield app, proxy, client
            app.stop()


async def test_alive_ready_and_metrics_on_the_metrics_port(
    batch: tuple[BatchApp, TcpProxy, httpx.AsyncClient],
) -> None:
    _, _, client = batch
    alive = await client.get("/healthz")
    assert (alive.status_code, alive.json()) == (200, {"status": "alive"})
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "ready",
        "checks": {"postgres": "ok", "redis": "ok", "ingestion": "ok"},
    }
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert "tarif_batch_stream_pending" in metrics.text


async def loops_started(redis: Redis) -> None:
    """Every ingest loop has read its streams once (a loop outlives Redis going away, but the
    reads before it, on start, do not: the process then stops, as on any start that fails)."""
    streams = {
        "tarif-rated": keys.rated_stream(0),
        "tarif-notifications": keys.notification_stream(0),
        "tarif-unrated": keys.UNRATED,
    }

    async def read() -> bool:
        for group, stream in streams.items():
            consumers = await redis.xinfo_consumers(stream, group)
            if not any(c["name"] in (b"test", "test") for c in consumers):
                return False
        return True

    await eventually(read, within=10)
    await asyncio.sleep(0.2)  # a few of their blocking reads (0.05 s each)


async def test_not_ready_while_redis_is_away_and_ready_again_after(
    batch: tuple[BatchApp, TcpProxy, httpx.AsyncClient], redis: Redis
) -> None:
    app, proxy, client = batch
    await loops_started(redis)
    await proxy.cut()
    response = await client.get("/readyz")
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["detail"] == "down: redis"
    assert body["errors"] == [{"dependency": "redis", "message": "ConnectionError"}]
    assert body["checks"] == {"postgres": "ok", "redis": "down", "ingestion": "ok"}
    assert (await client.get("/healthz")).status_code == 200  # alive: no reason to restart it
    assert (await client.get("/metrics")).status_code == 200

    await proxy.restore()

    async def ready() -> bool:
        return (await client.get("/readyz")).status_code == 200

    await eventually(ready, within=10)
    assert not app.failed  # the loops outlived the outage


async def test_not_ready_when_an_ingest_loop_is_not_running(
    batch: tuple[BatchApp, TcpProxy, httpx.AsyncClient],
) -> None:
    app, _, client = batch
    (rated,) = [task for task in app._tasks if task.get_name() == "ingest-rated"]
    rated.cancel()
    await asyncio.wait([rated])
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["errors"] == [
        {"dependency": "ingestion", "message": "not running: ingest-rated"}
    ]
