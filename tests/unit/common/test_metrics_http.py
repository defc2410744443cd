"""The batch's metrics port: `/healthz`, `/readyz` and the metrics, called as WSGI (no socket),
and readiness handed from the server's thread to the event loop."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from tarif_common.metrics_http import in_loop, probes_app
from tarif_common.readiness import Readiness


def call(app: Any, path: str, method: str = "GET") -> tuple[str, dict[str, str], bytes]:
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer["status"], answer["headers"] = status, dict(headers)

    environ = {"PATH_INFO": path, "REQUEST_METHOD": method, "QUERY_STRING": ""}
    body = b"".join(app(environ, start_response))
    return answer["status"], answer["headers"], body


def registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    Counter("tarif_batch_ingested", "entries", ["ingestor"], registry=reg).labels("rated").inc()
    return reg


def test_alive_ready_and_metrics() -> None:
    app = probes_app(registry(), lambda: Readiness(("postgres", "redis")))
    status, headers, body = call(app, "/healthz")
    assert (status, json.loads(body)) == ("200 OK", {"status": "alive"})
    status, headers, body = call(app, "/readyz")
    assert status == "200 OK"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["checks"] == {"postgres": "ok", "redis": "ok"}
    status, headers, body = call(app, "/metrics")
    assert status == "200 OK"
    assert b'tarif_batch_ingested_total{ingestor="rated"} 1.0' in body


def test_not_ready_is_a_503_problem() -> None:
    app = probes_app(
        registry(), lambda: Readiness(("postgres", "redis"), {"redis": "TimeoutError"})
    )
    status, headers, body = call(app, "/readyz")
    assert status == "503 Service Unavailable"
    assert headers["Content-Type"] == "application/problem+json"
    assert json.loads(body)["errors"] == [{"dependency": "redis", "message": "TimeoutError"}]
    assert call(app, "/healthz")[0] == "200 OK"  # alive all the same


def test_probes_take_get_only() -> None:
    app = probes_app(registry(), lambda: Readiness(()))
    status, headers, _ = call(app, "/readyz", "POST")
    assert (status, headers["Allow"]) == ("405 Method Not Allowed", "GET")


async def test_readiness_runs_in_the_loop_and_a_stuck_loop_is_not_ready() -> None:
    loop = asyncio.get_running_loop()
    seen: list[asyncio.AbstractEventLoop] = []

    async def readiness() -> Readiness:
        seen.append(asyncio.get_running_loop())
        return Readiness(("redis",))

    assert (await asyncio.to_thread(in_loop(readiness, loop))).ready
    assert seen == [loop]

    async def stuck() -> Readiness:
        await asyncio.sleep(60)
        raise AssertionError("unreachable")

    readiness_of_stuck = await asyncio.to_thread(in_loop(stuck, loop, timeout=0.05))
    assert readiness_of_stuck.down == {"process": "no answer from the event loop in 0.05 s"}


def test_a_closed_loop_is_not_ready() -> None:
    loop = asyncio.new_event_loop()
    loop.close()

    async def readiness() -> Readiness:
        return Readiness(())

    assert in_loop(readiness, loop)().down == {"process": "stopped"}
