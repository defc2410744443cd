from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.integration.harness import Engine, running_engine


@pytest.fixture
async def engine(redis_url: str, redis: Redis) -> AsyncIterator[Engine]:
    async with running_engine(redis_url, redis) as running:
        yield running
