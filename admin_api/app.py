"""The admin API: a FastAPI app over Postgres (the system of record) and Redis (the engine's).

`create_app(state)` builds the ASGI app (tests drive it in-process); `AdminProcess` runs it with
uvicorn beside the outbox relay, as `tarif admin serve` and inside `tarif up`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import uvicorn
from fastapi import Depends, FastAPI
from prometheus_client import CollectorRegistry

from admin_api import (
    balances,
    limits,
    metrics,
    problems,
    services,
    strictness,
)
from admin_api.openapi import add_problems
from admin_api.outbox import Relay
from admin_api.request_id import RequestIdMiddleware
from admin_api.routes import (
    admin,
    alerts,
    billing,
    catalog,
    contacts,
    contract_changes,
    customers,
    deliveries,
    email_log,
    hierarchy,
    invoices,
    jobs,
    payment_attempts,
    probes,
    reference,
    reminders,
    reports,
    selfcare,
    sepa,
    sharing,
    unrated,
    usage,
)
from admin_api.routes import (
    subscriptions as subscription_routes,
)
from tarif_balances.store import RedisBalanceStore, StoreLimits
from tarif_billing import purchasing
from tarif_client.engine import Engine, GrpcEngine
from tarif_common import keys
from tarif_common.lifecycle import TRANSIENT, Process, every, split_addr
from tarif_common.redis_client import RedisClient, connect
from tarif_common.settings import Settings
from tarif_postgres import db
from tarif_postgres.driver import DB_ERRORS

log = logging.getLogger(__name__)

DESCRIPTION = """Run the business: customers, catalog, usage.

**Auth**: every call needs an `X-API-Key` header (`tarif admin create-key --role R`). Roles:
`admin` (everything), `operator` (read; correct and re-rate usage), `auditor` (read only).
`/healthz`, `/readyz` and `/metrics`, outside this document, need no key.

**Lists**: every list takes `limit` and `cursor` (from `next_cursor`, null on the last page);
some take `sort` (`field` or `-field`) and filters named after the field. **Errors**:
`application/problem+json` with `field` naming the bad input. A query parameter an operation
does not take is a 422; a body that is not JSON a 400; a body over `TARIF_ADMIN_MAX_BODY`
(1 MiB by default) a 413.
"""


@dataclass
class State:
    settings: Settings
    pool: asyncpg.Pool
    redis: RedisClient
    relay: Relay
    engine: Engine
    store: RedisBalanceStore


class AdminApp(FastAPI):
    def openapi(self) -> dict[str, Any]:
        """FastAPI's document with the statuses the app itself answers (see `openapi.py`)."""
        if self.openapi_schema is None:
            self.openapi_schema = add_problems(super().openapi())
        return self.openapi_schema


def create_app(
    state: State,
    registry: CollectorRegistry | None = None,
    request_metrics: metrics.AdminMetrics | None = None,
) -> FastAPI:
    """The app over `state`; its request metrics go to `request_metrics`, or new ones in
    `registry` (a new one if None)."""
    app = AdminApp(
        title="Tarif admin API",
        version="1",
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        dependencies=[
            Depends(strictness.reject_unknown_query),
            Depends(strictness.reject_nul),
        ],
    )
    for name, value in vars(state).items():
        setattr(app.state, name, value)
    problems.install(app)
    limits.install(app, state.settings.admin_max_body)
    metrics.install(app, CollectorRegistry() if registry is None else registry, request_metrics)
    app.add_middleware(RequestIdMiddleware)  # outermost: every answer carries X-Request-ID
    app.include_router(probes.router)  # first: probes and scrapes match at once
    for module in (
        customers,
        contacts,
        subscription_routes,
        selfcare,
        sharing,
        hierarchy,
        billing,
        invoices,
        reports,
        deliveries,
        email_log,
        catalog,
        reference,
        unrated,
        sepa,
        jobs,
        alerts,
        contract_changes,
        reminders,
        payment_attempts,
        usage,
        admin,
    ):
        app.include_router(module.router)
    return app


class AdminProcess(Process):
    name = "admin"

    def __init__(self, settings: Settings, *, registry: CollectorRegistry | None = None) -> None:
        if settings.redis_url is None or settings.database_url is None:
            raise ValueError("the admin API needs redis_url and database_url")
        super().__init__(registry=registry)
        self.settings = settings
        self.port = 0
        # made with the process, as the engine's and the batch's are: scrapes see every family
        self.request_metrics = metrics.AdminMetrics(self.registry)

    async def _start(self) -> None:
        s = self.settings
        assert s.redis_url is not None
        assert s.database_url is not None
        await db.migrate_url(s.database_url)
        pool = await db.create_pool(s.database_url, max_size=20)
        self._stack.push_async_callback(pool.close)
        redis = connect(s.redis_url)
        self._stack.push_async_callback(redis.aclose)
        await redis.hsetnx(keys.META, "partitions", s.partitions)
        partitions = int(await redis.hget(keys.META, "partitions") or s.partitions)
        engine = GrpcEngine(s.grpc_addr)
        self._stack.push_async_callback(engine.close)
        relay = Relay(pool, redis, partitions)
        store = balance_store(redis, s)
        state = State(s, pool, redis, relay, engine, store)
        self.app = create_app(state, self.registry, self.request_metrics)
        host, port = split_addr(s.admin_addr)
        config = uvicorn.Config(
            self.app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self._spawn("http", self._serve())
        self._http = self._tasks[-1]
        while not self.server.started:
            if self._stopped.is_set():
                return
            await asyncio.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        transient = (*TRANSIENT, *DB_ERRORS)

        # a restart looks back a day: crossings while it was down are resynced too (harmless)
        watched = {"since": datetime.now(UTC) - timedelta(days=1)}

        async def housekeeping() -> None:
            # services enter or leave their validity, the outbox carries every change to Redis,
            # adjustments a crash left pending are applied. What comes due at a date (plan
            # transitions, renewals, deferred purchases, contract changes, account deletion)
            # is the batch's scheduled jobs' (docs/jobs-purchases.md)
            now = datetime.now(UTC)
            await services.queue_validity_changes(pool, watched["since"])
            watched["since"] = now
            await relay.drain()
            await balances.apply_pending(pool, store)
            if await purchasing.finish_pending(pool):
                await relay.drain()

        self._spawn(
            "outbox", every(s.outbox_interval, housekeeping, "outbox", self._stopped, transient)
        )
        log.info("admin.started", extra={"url": f"http://{host}:{self.port}"})

    async def _serve(self) -> None:
        await self.server.serve()
        if not self._stopped.is_set():
            raise RuntimeError("the HTTP server stopped")

    async def _before_tasks_stop(self) -> None:
        if hasattr(self, "server"):
            self.server.should_exit = True  # uvicorn finishes the requests in flight
            await asyncio.wait([self._http], timeout=self.settings.shutdown_grace)


def openapi(settings: Settings) -> dict[str, Any]:
    """The OpenAPI document without servers (for docs and schema tests)."""
    return create_app(State(settings, None, None, None, None, None)).openapi()  # type: ignore[arg-type]


def balance_store(redis: RedisClient, settings: Settings) -> RedisBalanceStore:
    return RedisBalanceStore(redis, StoreLimits.of(settings))
