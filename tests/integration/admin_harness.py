"""The admin API in-process (ASGI) over the test engine's Redis, the scratch Postgres and the
engine's gRPC port, with one API key per role."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from admin_api import catalog
from admin_api.app import State, balance_store, create_app
from admin_api.auth import Role, create_key
from admin_api.outbox import Relay
from tarif_client.engine import GrpcEngine
from tarif_common.settings import Settings
from tests.integration.harness import Engine
from tests.integration.harness import catalog as demo_catalog


@dataclass
class Admin:
    client: httpx.AsyncClient
    keys: dict[str, str]
    relay: Relay
    pool: asyncpg.Pool
    engine: Engine
    app: Any = None  # the FastAPI app, e.g. to swap its engine client for one that fails

    def as_(self, role: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[role]}

    async def call(self, method: str, path: str, role: str = "admin", **kw: Any) -> httpx.Response:
        return await self.client.request(method, path, headers=self.as_(role), **kw)

    async def count(self, table: str) -> int:
        async with self.pool.acquire() as conn:
            n: int = await conn.fetchval(f"SELECT count(*) FROM {table}")  # test tables only
        return n


@asynccontextmanager
async def running_admin(engine: Engine, pool: asyncpg.Pool) -> AsyncIterator[Admin]:
    async with pool.acquire() as conn:
        await conn.execute(  # the migration's seed rows (the pg fixture empties every table)
            "INSERT INTO customer_types (name) VALUES ('residential'), ('business')"
            " ON CONFLICT DO NOTHING"
        )
        await catalog.publish(conn, None, demo_catalog(), actor="test")
        keys = {role.value: (await create_key(conn, role))[0] for role in Role}
    relay = Relay(pool, engine.redis, engine.app.partitions)
    await relay.drain()
    await engine.app.catalog.refresh()
    grpc_engine = GrpcEngine(f"127.0.0.1:{engine.app.grpc_port}")
    # a test deployment: runs may act as of simulated "process now" times
    settings = Settings(
        redis_url="redis://unused", database_url="postgresql://unused", environment="test"
    )
    store = balance_store(engine.redis, settings)
    app = create_app(State(settings, pool, engine.redis, relay, grpc_engine, store))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
        yield Admin(client, keys, relay, pool, engine, app)
    await grpc_engine.close()


def onboarding(msisdn: str = "38640555001", **changes: Any) -> dict[str, Any]:
    """A valid onboarding request: a prepaid customer with 10.00 EUR, paying by direct debit
    under mandate `MANDATE-<msisdn>`."""
    body: dict[str, Any] = {
        "account": {
            "first_name": "Ana",
            "last_name": "Novak",
            "email": "ana.novak@example.com",
            "phone": "+38640555001",
            "customer_type": "residential",
            "address": "Slovenska cesta 1",
            "city": "Ljubljana",
            "state": "Osrednjeslovenska",
            "country": "SI",
            "postcode": "1000",
        },
        "payment": {
            "method": "direct_debit",
            "mandate_id": f"MANDATE-{msisdn}",  # a reference is one customer's (per creditor)
            "signature_date": "2026-01-15",
            "iban": "SI56 1910 0000 0123 438",
            "bic": "BAKOSI2X",
        },
        "contacts": [{"tag": "billing", "email": "ana.novak@example.com"}],
        "subscription": {
            "plan": "basic",
            "payment_type": "prepaid",
            "currency": "EUR",
            "interval": "monthly",
            "billing_day": 1,
            "services": [msisdn],
            "balances": [{"id": "main", "resource": "EUR", "amount": "10.00"}],
        },
    }
    for path, value in changes.items():
        target = body
        *parents, last = path.split("__")
        for part in parents:
            target = target[part]
        target[last] = value
    return copy.deepcopy(body)
