"""A process's metrics port, and `/healthz` + `/readyz` on it for a process with no HTTP server.

The server is prometheus_client's kind (WSGI, a thread per request, outside the event loop), so a
scrape or a liveness probe is answered even while the loop is busy. `/readyz` runs its checks in
the event loop, since the pools and clients they use belong to it, and waits for them from the
server's thread; a loop that does not answer in time makes the process not ready.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import TimeoutError as FutureTimeout
from http import HTTPStatus
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from tarif_common.readiness import CHECK_TIMEOUT, JSON, Readiness

Ready = Callable[[], Readiness]


def in_loop(
    readiness: Callable[[], Awaitable[Readiness]],
    loop: asyncio.AbstractEventLoop,
    timeout: float = CHECK_TIMEOUT + 1.0,
) -> Ready:
    """`readiness` run in `loop`, callable from another thread."""

    def ready() -> Readiness:
        coroutine = _call(readiness)
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        except RuntimeError:  # the loop is closed: the process is on its way out
            coroutine.close()
            return Readiness(("process",), {"process": "stopped"})
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            return Readiness(
                ("process",), {"process": f"no answer from the event loop in {timeout:g} s"}
            )

    return ready


async def _call(readiness: Callable[[], Awaitable[Readiness]]) -> Readiness:
    return await readiness()


def _json(
    start_response: StartResponse, status: int, body: dict[str, Any], media_type: str = JSON
) -> list[bytes]:
    data = json.dumps(body).encode()
    headers = [("Content-Type", media_type), ("Content-Length", str(len(data)))]
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [data]


def probes_app(registry: CollectorRegistry, ready: Ready) -> WSGIApplication:
    """`/healthz` (alive: 200), `/readyz` (200, or 503 naming what is down), and the metrics on
    every other path (prometheus_client's own behaviour, kept for scrapers of `/`)."""
    metrics = make_wsgi_app(registry)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path not in ("/healthz", "/readyz"):
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        if environ["REQUEST_METHOD"] != "GET":
            headers = [("Allow", "GET"), ("Content-Length", "0")]
            start_response("405 Method Not Allowed", headers)
            return [b""]
        if path == "/healthz":
            return _json(start_response, 200, {"status": "alive"})
        status, media_type, body = ready().answer()
        return _json(start_response, status, body, media_type)

    return app


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds would flood the log."""


def serve(
    host: str, port: int, app: WSGIApplication
) -> tuple[ThreadingWSGIServer, threading.Thread]:
    """`app` on host:port in a daemon thread (IPv6 hosts too), as prometheus_client serves."""
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]

    class Server(ThreadingWSGIServer):
        address_family = family

    server = make_server(str(address[0]), port, app, Server, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return server, thread
