"""The admin API's request metrics, `/healthz` and `/readyz`, over real Postgres and Redis:
in-process, and as `tarif admin serve` runs it (uvicorn on a port)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from admin_api.app import AdminProcess, State, balance_store, create_app
from tarif_client.engine import GrpcEngine
from tarif_common.embedded import free_port
from tarif_common.settings import Settings
from tests.integration.admin_harness import Admin, onboarding

PROBLEM = "application/problem+json"
TEMPLATE = "/v1/customers/{customer_id}"


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of a /metrics text, None if there is none."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None


def promtool_check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    """Prometheus' own lint of an exposition (names, units, suffixes, help)."""
    command = ["promtool", "check", "metrics"]
    return subprocess.run(command, input=text, capture_output=True, text=True, timeout=30)


async def test_requests_count_by_route_template_and_status(admin: Admin) -> None:
    created = await admin.call("POST", "/v1/customers", json=onboarding())
    customer_id = created.json()["id"]
    assert (await admin.call("GET", f"/v1/customers/{customer_id}")).status_code == 200
    for unknown in (customer_id + 1000, customer_id + 2000):
        response = await admin.call("GET", f"/v1/customers/{unknown}")
        assert response.status_code == 404  # an unknown customer: the route took it
    assert (await admin.client.get(f"/v1/customers/{customer_id}")).status_code == 401
    assert (await admin.call("GET", "/v1/no-such-route")).status_code == 404

    text = (await admin.client.get("/metrics")).text  # no key
    requests = "tarif_admin_http_requests_total"
    assert sample(text, requests, route="/v1/customers", method="POST", status="201") == 1
    assert sample(text, requests, route=TEMPLATE, method="GET", status="200") == 1
    assert sample(text, requests, route=TEMPLATE, method="GET", status="404") == 2
    assert sample(text, requests, route=TEMPLATE, method="GET", status="401") == 1
    assert sample(text, requests, route="<unmatched>", method="GET", status="404") == 1
    assert f"/v1/customers/{customer_id + 1000}" not in text  # never a raw path

    duration = "tarif_admin_http_request_duration_seconds"
    assert sample(text, f"{duration}_count", route=TEMPLATE, method="GET") == 4
    assert sample(text, f"{duration}_bucket", route=TEMPLATE, method="GET", le="+Inf") == 4
    total = sample(text, f"{duration}_sum", route=TEMPLATE, method="GET")
    assert total is not None
    assert 0 < total < 30


async def test_alive_and_ready_need_no_key(admin: Admin) -> None:
    alive = await admin.client.get("/healthz")
    assert (alive.status_code, alive.json()) == (200, {"status": "alive"})
    ready = await admin.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "checks": {"postgres": "ok", "redis": "ok"}}


@asynccontextmanager
async def app_over(
    admin: Admin, pool: asyncpg.Pool, redis: Redis
) -> AsyncIterator[httpx.AsyncClient]:
    """The admin app over other stores than the harness' (ones that are down)."""
    settings = Settings(redis_url="redis://unused", database_url="postgresql://unused")
    engine = GrpcEngine(f"127.0.0.1:{admin.engine.app.grpc_port}")
    store = balance_store(redis, settings)
    app = create_app(State(settings, pool, redis, admin.relay, engine, store))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://admin"
        ) as client:
            yield client
    finally:
        await engine.close()


async def test_not_ready_when_redis_does_not_answer(admin: Admin) -> None:
    unreachable = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        async with app_over(admin, admin.pool, unreachable) as client:
            response = await client.get("/readyz")
            assert (await client.get("/healthz")).status_code == 200  # alive all the same
    finally:
        await unreachable.aclose()
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert (body["title"], body["status"], body["detail"]) == ("Not ready", 503, "down: redis")
    assert body["errors"] == [{"dependency": "redis", "message": "ConnectionError"}]
    assert body["checks"] == {"postgres": "ok", "redis": "down"}


async def test_not_ready_when_postgres_does_not_answer(admin: Admin) -> None:
    # min_size=0: the pool connects on first use, to a port where no server listens
    unreachable = await asyncpg.create_pool(
        f"postgresql://postgres@127.0.0.1:{free_port()}/tarif", min_size=0
    )
    try:
        async with app_over(admin, unreachable, admin.engine.redis) as client:
            response = await client.get("/readyz")
    finally:
        await unreachable.close()
    assert response.status_code == 503
    assert response.json()["detail"] == "down: postgres"
    assert response.json()["checks"] == {"postgres": "down", "redis": "ok"}


async def test_the_admin_process_serves_them_on_its_port(
    redis: Redis, redis_url: str, database_url: str
) -> None:
    """As `tarif admin serve` runs: uvicorn on a port, metrics on the process' registry (no
    engine: these calls do not need one)."""
    settings = Settings(
        redis_url=redis_url,
        database_url=database_url,
        admin_addr="127.0.0.1:0",
        grpc_addr=f"127.0.0.1:{free_port()}",
        shutdown_grace=1.0,
    )
    async with (
        AdminProcess(settings) as process,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{process.port}", timeout=10) as client,
    ):
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.get("/v1/customers")).status_code == 401
        metrics = await client.get("/metrics")
        process.stop()  # as SIGTERM does
    assert not process.failed
    assert metrics.status_code == 200
    text = metrics.text
    requests = "tarif_admin_http_requests_total"
    assert sample(text, requests, route="/v1/customers", method="GET", status="401") == 1
    assert sample(text, requests, route="/readyz", method="GET", status="200") == 1
    assert (
        process.registry.get_sample_value(
            requests, {"route": "/healthz", "method": "GET", "status": "200"}
        )
        == 1
    )
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    lint = await asyncio.to_thread(promtool_check_metrics, text)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert lint.stdout.strip() == "", lint.stdout
