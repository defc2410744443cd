"""Test harness: real Redis for every integration test.

REDIS_URL set: that server is used (its database is flushed before each test, so point it at a
scratch database). Unset (CI, a fresh machine): one embedded server for the whole run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tarif_common.embedded import EmbeddedRedis


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    # everysec: the suite does not test crash durability here (test_embedded does).
    with EmbeddedRedis(Path(tmp_path_factory.mktemp("redis")), appendfsync="everysec") as server:
        yield server.url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()
