from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from redis.asyncio import Redis

from tests.integration.admin_harness import Admin, running_admin
from tests.integration.harness import Engine, running_engine


@pytest.fixture
async def engine(redis_url: str, redis: Redis) -> AsyncIterator[Engine]:
    async with running_engine(redis_url, redis) as running:
        yield running


@pytest.fixture
async def admin(engine: Engine, pg: asyncpg.Pool) -> AsyncIterator[Admin]:
    async with running_admin(engine, pg) as running:
        yield running
