"""What route handlers get from the app: the pool, Redis, the outbox relay."""

from __future__ import annotations

import logging
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from redis.exceptions import RedisError

from tarif_common.errors import TarifError

log = logging.getLogger(__name__)


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


Pool = Annotated[asyncpg.Pool, Depends(_pool)]


async def sync_engine(request: Request) -> bool:
    """Push committed changes to Redis now; if Redis is away the outbox keeps them for later."""
    try:
        await request.app.state.relay.drain()
    except (TarifError, RedisError, OSError, asyncpg.PostgresError) as exc:
        log.warning("outbox.deferred", extra={"error": repr(exc)})
        return False
    return True
