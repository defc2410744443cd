"""Postgres access shared by every process: the pool and the schema migrations.

The pool's connections translate driver errors into Tarif's (`tarif_postgres.driver`).

Migrations are the numbered `*.sql` files of `tarif_postgres/migrations`, applied in order, each in
its own transaction, under an advisory lock so that processes starting together apply them once.
An applied file must never change: its checksum is recorded and checked on every start.

The job queue's own tables (PgQueuer, which hands job runs to the batch's workers) are installed,
and upgraded when a newer PgQueuer declares a changed schema, by PgQueuer's own API under the same
lock, after the migrations: every process that migrates can then enqueue a run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import asyncpg
from pgqueuer import Queries

from tarif_common.errors import TarifError
from tarif_postgres import queries
from tarif_postgres.driver import TarifConnection

log = logging.getLogger(__name__)
Q = queries.load("health")

_MIGRATIONS = "tarif_postgres.migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# pg_advisory_lock key: any constant the application owns ("tarif" as an int64).
_LOCK_KEY = int.from_bytes(b"tarifmig", "big") & 0x7FFF_FFFF_FFFF_FFFF


class MigrationError(TarifError):
    """The database's schema history disagrees with the migration files."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations() -> list[Migration]:
    """The migration files shipped with the package, in version order."""
    found = []
    for entry in resources.files(_MIGRATIONS).iterdir():
        if match := _NAME.match(entry.name):
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migration versions must be 1..n without gaps, found {versions}")
    return found


async def migrate(conn: asyncpg.Connection) -> list[int]:
    """Bring the schema up to date; returns the versions applied now (none if up to date)."""
    applied_now = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
        done = {row["version"]: row for row in rows}
        known = migrations()
        if unknown := sorted(set(done) - {m.version for m in known}):
            raise MigrationError(f"database has migrations this code does not know: {unknown}")
        for migration in known:
            row = done.get(migration.version)
            if row is not None:
                if row["checksum"] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} changed after it was"
                        " applied; add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            done = {"version": migration.version, "migration": migration.name}
            log.info("db.migrated", extra=done)
            applied_now.append(migration.version)
        await _queue_schema(conn)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


async def _queue_schema(conn: asyncpg.Connection) -> None:
    """PgQueuer's tables installed, or brought to what the installed PgQueuer declares (a no-op
    when they already are: its upgrade plans from the live catalog and runs only what differs)."""
    queue = Queries.from_asyncpg_connection(conn)
    if not await queue.schema_is_installed():
        await queue.install()
        log.info("db.queue_installed")
        return
    plan = await queue.apply_upgrade()
    if plan.statements:
        log.info("db.queue_upgraded", extra={"statements": len(plan.statements)})


_JSONB_VERSION = b"\x01"  # the first byte of jsonb's binary format


def _jsonb_binary(value: Any) -> bytes:
    return _JSONB_VERSION + json.dumps(value).encode()


def _jsonb_value(data: bytes) -> Any:
    if data[:1] != _JSONB_VERSION:
        raise ValueError(f"unknown jsonb binary format version {data[:1]!r}")
    return json.loads(data[1:])


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections exchange `jsonb` and `json` (what json_agg returns) as Python
    objects.

    Released connections are only rolled back if a transaction is open, instead of asyncpg's
    default reset query (a round trip on every release): Tarif's pooled connections never
    LISTEN, SET session variables or take session-level advisory locks.
    """

    async def reset(conn: asyncpg.Connection) -> None:
        if conn.is_in_transaction():
            await conn.execute("ROLLBACK")

    async def init(conn: asyncpg.Connection) -> None:
        # jsonb in binary, so COPY (binary only in asyncpg) can write jsonb columns
        await conn.set_type_codec(
            "jsonb",
            encoder=_jsonb_binary,
            decoder=_jsonb_value,
            schema="pg_catalog",
            format="binary",
        )
        await conn.set_type_codec(
            "json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )

    pool: asyncpg.Pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=init,
        reset=reset,
        connection_class=TarifConnection,
    )
    return pool


async def migrate_url(url: str) -> list[int]:
    conn: Any = await asyncpg.connect(url)
    try:
        return await migrate(conn)
    finally:
        await conn.close()


async def ping(pool: asyncpg.Pool) -> None:
    """Postgres answers a round trip on a pooled connection (the readiness probes)."""
    await pool.fetchval(Q.ping)
