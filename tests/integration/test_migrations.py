"""Schema migrations: applied once, in order, safe on every start and under concurrent starts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tarif_postgres import db


@pytest.fixture
async def empty_database(database_url: str) -> AsyncIterator[str]:
    base, _, _ = database_url.rpartition("/")
    name = f"tarif_mig_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_concurrent_starts_apply_each_migration_once(empty_database: str) -> None:
    results = await asyncio.gather(*(db.migrate_url(empty_database) for _ in range(4)))
    every = [v for applied in results for v in applied]
    assert sorted(every) == [m.version for m in db.migrations()]
    assert await db.migrate_url(empty_database) == []  # up to date: nothing to do
    conn = await asyncpg.connect(empty_database)
    try:
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations ORDER BY 1")
    finally:
        await conn.close()
    assert [(r["version"], r["checksum"]) for r in rows] == [
        (m.version, m.checksum) for m in db.migrations()
    ]


async def test_a_changed_or_unknown_migration_is_refused(empty_database: str) -> None:
    await db.migrate_url(empty_database)
    conn = await asyncpg.connect(empty_database)
    try:
        await conn.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1")
        with pytest.raises(db.MigrationError, match="changed after it was applied"):
            await db.migrate(conn)
        await conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (999, 'future', 'y')"
        )
        with pytest.raises(db.MigrationError, match="does not know"):
            await db.migrate(conn)
    finally:
        await conn.close()
