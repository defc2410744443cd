"""The admin API's request metrics, in-process without stores: counted by route template, never
by raw path, with what never reaches a route counted too (a body refused before routing, an
unknown path, an unknown method, an unhandled error)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.requests import Request
from starlette.responses import Response

from admin_api.app import State, create_app
from tarif_common.settings import Settings

REQUESTS = "tarif_admin_http_requests_total"
DURATION = "tarif_admin_http_request_duration_seconds"


def requests(registry: CollectorRegistry, route: str, method: str, status: int) -> float:
    labels = {"route": route, "method": method, "status": str(status)}
    return registry.get_sample_value(REQUESTS, labels) or 0.0


def observed(registry: CollectorRegistry, route: str, method: str) -> float:
    labels = {"route": route, "method": method}
    return registry.get_sample_value(f"{DURATION}_count", labels) or 0.0


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def client(registry: CollectorRegistry) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(redis_url="redis://unused", database_url="postgresql://unused")
    app = create_app(State(settings, None, None, None, None, None), registry)  # type: ignore[arg-type]

    async def fails(request: Request) -> Response:
        raise RuntimeError("a bug")

    app.add_route("/v1/test-failure/{thing}", fails)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
        yield client


async def test_a_request_counts_under_its_route_template(
    client: httpx.AsyncClient, registry: CollectorRegistry
) -> None:
    for customer_id in ("12", "13", "14"):
        assert (await client.get(f"/v1/customers/{customer_id}")).status_code == 401  # no key
    assert requests(registry, "/v1/customers/{customer_id}", "GET", 401) == 3
    assert observed(registry, "/v1/customers/{customer_id}", "GET") == 3
    text = (await client.get("/metrics")).text
    assert "/v1/customers/12" not in text
    assert (
        f'{DURATION}_bucket{{le="0.005",method="GET",route="/v1/customers/{{customer_id}}"}}'
        in (text)
    )


async def test_what_no_route_takes(client: httpx.AsyncClient, registry: CollectorRegistry) -> None:
    assert (await client.get("/v1/no-such-thing/42")).status_code == 404
    assert (await client.request("BREW", "/v1/customers")).status_code == 405
    assert (await client.delete("/v1/customers")).status_code == 405
    big = {"content-length": str(2 << 20)}  # refused on the declared length, before routing
    assert (await client.post("/v1/customers", content=b"{}", headers=big)).status_code == 413
    assert (await client.get("/v1/test-failure/1")).status_code == 500
    assert requests(registry, "<unmatched>", "GET", 404) == 1
    assert requests(registry, "/v1/customers", "OTHER", 405) == 1
    assert requests(registry, "/v1/customers", "DELETE", 405) == 1
    assert requests(registry, "/v1/customers", "POST", 413) == 1
    assert requests(registry, "/v1/test-failure/{thing}", "GET", 500) == 1


async def test_probes_and_metrics_need_no_key(
    client: httpx.AsyncClient, registry: CollectorRegistry
) -> None:
    assert (await client.get("/healthz")).json() == {"status": "alive"}
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert f"# TYPE {DURATION} histogram" in metrics.text
    openmetrics = await client.get("/metrics", headers={"accept": "application/openmetrics-text"})
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert requests(registry, "/healthz", "GET", 200) == 1


def test_every_app_has_its_own_registry() -> None:
    settings = Settings(redis_url="redis://unused", database_url="postgresql://unused")
    state = State(settings, None, None, None, None, None)  # type: ignore[arg-type]
    apps: list[FastAPI] = [create_app(state), create_app(state)]  # no duplicate-series error
    assert apps[0] is not apps[1]
