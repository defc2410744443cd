"""Test harness: real Redis and Postgres for the integration tests.

REDIS_URL set: that server is used (its database is flushed before each test, so point it at a
scratch database). DATABASE_URL set: a scratch database is created on that server for the run and
dropped after. Unset (CI, a fresh machine): one embedded server of each for the whole run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
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


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A scratch database, migrated: on DATABASE_URL's server if set, else on an embedded one."""
    import asyncio
    import shutil
    import tempfile
    import uuid

    import asyncpg

    from tarif_common.embedded import EmbeddedPostgres
    from tarif_postgres import db

    async def admin(url: str, sql: str) -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    with contextlib.ExitStack() as stack:
        server_url = os.environ.get("DATABASE_URL")
        if not server_url:
            # A fresh /tmp folder the server's system user may traverse when we are root.
            root = Path(tempfile.mkdtemp(prefix="tarif-test-pg-"))
            stack.callback(shutil.rmtree, root, True)
            server_url = stack.enter_context(EmbeddedPostgres(root / "pg", owned_root=root)).url
        name = f"tarif_test_{uuid.uuid4().hex[:12]}"
        base, _, _ = server_url.rpartition("/")
        asyncio.run(admin(server_url, f'CREATE DATABASE "{name}"'))
        url = f"{base}/{name}"
        try:
            asyncio.run(db.migrate_url(url))
            yield url
        finally:
            asyncio.run(admin(server_url, f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture
async def pg(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the scratch database, every table emptied first."""
    from tarif_postgres import db

    pool = await db.create_pool(database_url, max_size=10)
    async with pool.acquire() as conn:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'schema_migrations'"
        )
        if tables:
            names = ", ".join(f'"{t["tablename"]}"' for t in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    yield pool
    await pool.close()
