"""Request metrics of the admin API, and `/metrics` on the API's own port.

Requests are counted by route template (`/v1/customers/{customer_id}`), never by raw path: ids in
a label would make a series per customer. A path no route knows is `<unmatched>`, and a method
outside HTTP's usual ones `OTHER`, so a scanner cannot mint series either.

Why on the admin port rather than a port of its own like the engine's and the batch's: those
processes have no HTTP server, this one has, so a second listener would only add a port to
allocate (beside `tarif up --workers N`'s), open and probe. The series hold no customer data,
so `/metrics`, like `/healthz` and `/readyz`, needs no key (docs/health.md).
"""

from __future__ import annotations

import re
import time
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.routing import Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "<unmatched>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# exports and bill runs take seconds; most calls take milliseconds
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class AdminMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "tarif_admin_http_requests",
            "Admin API requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "tarif_admin_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template and method.",
            ["route", "method"],
            buckets=BUCKETS,
            registry=registry,
        )


def every_route(router: Router) -> list[Any]:
    """Every route (one level: FastAPI 0.116+ wraps an included router's routes in one)."""
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(contexts(router.routes)) if contexts is not None else list(router.routes)


class Templates:
    """The template of the route that took a request, or that would have (a body refused
    before routing: the router never saw it); `<unmatched>` if no route knows the path."""

    def __init__(self, router: Router) -> None:
        self._router = router
        self._table: list[tuple[re.Pattern[str], str, frozenset[str]]] | None = None

    def __call__(self, scope: Scope) -> str:
        route = scope.get("route")
        template = getattr(route, "path_format", None)
        if isinstance(template, str):
            return template
        path_only = None
        for regex, template, methods in self._known():
            if regex.match(scope["path"]):
                if scope["method"] in methods:
                    return template
                path_only = path_only or template
        return path_only or UNMATCHED

    def _known(self) -> list[tuple[re.Pattern[str], str, frozenset[str]]]:
        if self._table is None:  # built on first use: routes are added after the middleware
            self._table = [
                (route.path_regex, route.path_format, frozenset(route.methods or ()))
                for route in every_route(self._router)
                if isinstance(getattr(route, "path_format", None), str)
            ]
        return self._table


class RequestMetrics:
    """Pure ASGI middleware, outermost of the app's own, so that a body refused as too large
    counts too, and a request that fails with an unhandled error counts as a 500."""

    def __init__(self, app: ASGIApp, metrics: AdminMetrics, router: Router) -> None:
        self.app = app
        self.metrics = metrics
        self.template = Templates(router)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless an answer starts

        async def watched_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        finally:
            route = self.template(scope)
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.duration.labels(route, method).observe(time.perf_counter() - started)


def install(app: FastAPI, registry: CollectorRegistry, metrics: AdminMetrics | None = None) -> None:
    """Count every request into `metrics` (made in `registry` when not given), which `/metrics`
    serves (`routes/probes.py`)."""
    app.state.registry = registry
    made = AdminMetrics(registry) if metrics is None else metrics
    app.add_middleware(RequestMetrics, metrics=made, router=app.router)
