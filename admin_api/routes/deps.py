"""What route handlers get from the app: the pool, Redis, the outbox relay."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from redis.exceptions import RedisError

from admin_api import purchases
from tarif_billing import purchasing
from tarif_common.errors import TarifError
from tarif_postgres.driver import DB_ERRORS

log = logging.getLogger(__name__)
# Errors after which a committed change is left for the housekeeping loop to finish.
_DEFERRED: tuple[type[BaseException], ...] = (TarifError, RedisError, *DB_ERRORS)


async def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


Pool = Annotated[asyncpg.Pool, Depends(_pool)]


async def sync_engine(
    request: Request, kind: str, key: str, conn: asyncpg.Connection | None = None
) -> bool:
    """Push a committed change to Redis now; if Redis is away the outbox keeps it for later."""
    try:
        await request.app.state.relay.drain_one(kind, key, conn)
    except _DEFERRED as exc:
        log.warning("outbox.deferred", extra={"error": repr(exc)})
        return False
    return True


async def sync_accounts(
    request: Request, accounts: list[str], conn: asyncpg.Connection | None = None
) -> bool:
    """`sync_engine` for each of a customer's balance groups."""
    synced = True
    for account_id in accounts:
        synced = await sync_engine(request, "account", account_id, conn) and synced
    return synced


async def settle(
    request: Request,
    adjustments: list[int],
    account_id: str,
    context: str = "",
    state: dict[str, Any] | None = None,
) -> None:
    """Apply a change's adjustments (credits, prepaid payments) now and push what they
    activated; if the engine is away the housekeeping loop finishes them. One the engine
    refused raises `Refused` (after the push): `context` and `state` say what the committed
    change left in place (e.g. the new subscription)."""
    for adjustment_id in adjustments:
        try:
            await purchasing.settle(request.app.state.pool, request.app.state.store, adjustment_id)
        except _DEFERRED as exc:
            log.warning("settle.deferred", extra={"error": repr(exc)})
            return
    if not adjustments:
        return
    await sync_engine(request, "account", account_id)
    async with request.app.state.pool.acquire() as conn:
        for adjustment_id in adjustments:
            if refused := await purchases.refusal(conn, adjustment_id, context):
                refused.state.update(state or {})
                raise refused
