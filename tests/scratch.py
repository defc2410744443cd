"""Scratch Redis and Postgres for a test run: one database of each per xdist worker.

Why: workers run tests at the same time, so none may flush or empty what another one uses.

The run has one Redis and one Postgres server: REDIS_URL / DATABASE_URL if set, else embedded
ones, started once for the run (by pytest's controller under xdist) and stopped when it ends. On
Postgres a template database is migrated once and each worker clones it into its own database; on
Redis each worker selects a database number of its own. Worker n is 0 without xdist, n for `gwn`.

Only scratch state is touched on a developer's servers:
- Postgres: the databases `tarif_test_<run>_template` and `tarif_test_<run>_<n>`, created and
  dropped here (DATABASE_URL's own database is only connected to).
- Redis: worker n uses REDIS_URL's database + n. REDIS_URL's own database is the one named as
  scratch; one above it is used only if empty or marked by an earlier run (`MARK`), else the run
  stops rather than flush somebody's data. The embedded server's databases start at 1, never 0,
  so a client that drops the URL's database number fails a test instead of passing by luck.

What Redis shares across databases is harmless here: a catalog-changed message on the pub/sub
channel makes every worker's engine re-read the catalog version of its own database (unchanged:
nothing happens), and after one test's SCRIPT FLUSH the others' scripts load again on NOSCRIPT
(only a pipelined batch whose check-then-call straddles the flush, a window of microseconds,
would see an error).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import redis

from tarif_common.embedded import EmbeddedPostgres, EmbeddedRedis
from tarif_postgres import db

# Left in a worker's Redis database when the run ends (after its last test, so no test sees it).
MARK = "tarif-tests:scratch"
EMBEDDED_FIRST_DATABASE = 1

# Every table emptied, every sequence back to its start, in one round trip. DELETE rather than
# TRUNCATE: TRUNCATE gives each of ~35 tables new files, ~20 times slower on these tiny tables; but
# a table with thousands of rows (a bulk test) is truncated, so later tests scan no dead rows. The
# replica role skips foreign-key and trigger checks, so the order of tables does not matter.
_EMPTY_TABLES = """
DO $$
DECLARE
    target text;
    big boolean;
BEGIN
    PERFORM set_config('session_replication_role', 'replica', true);
    FOR target IN
        SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
        WHERE schemaname = 'public' AND tablename <> 'schema_migrations'
    LOOP
        EXECUTE 'SELECT EXISTS (SELECT FROM ' || target || ' OFFSET 5000)' INTO big;
        IF big THEN
            EXECUTE 'TRUNCATE ' || target || ' CASCADE';
        ELSE
            EXECUTE 'DELETE FROM ' || target;
        END IF;
    END LOOP;
    PERFORM setval(format('%I.%I', schemaname, sequencename)::regclass, start_value, false)
    FROM pg_sequences WHERE schemaname = 'public';
END
$$
"""
# Without the superuser right to set the replica role: what the suite did before.
_TRUNCATE_TABLES = """
DO $$
DECLARE
    targets text;
BEGIN
    SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') INTO targets
    FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations';
    IF targets IS NOT NULL THEN
        EXECUTE 'TRUNCATE ' || targets || ' RESTART IDENTITY CASCADE';
    END IF;
END
$$
"""


@dataclass(frozen=True)
class ScratchRedis:
    url: str  # the run's first database
    shared: bool  # REDIS_URL's server: databases above the first are checked before use

    def for_worker(self, worker: int) -> str:
        first = int(urlsplit(self.url).path.strip("/") or 0)
        return _with_path(self.url, f"/{first + worker}")


@dataclass(frozen=True)
class ScratchPostgres:
    url: str  # an existing database to connect to for CREATE and DROP DATABASE
    run: str  # a name part unique to the run

    @property
    def template(self) -> str:
        return f"tarif_test_{self.run}_template"

    def database(self, worker: int) -> str:
        return f"tarif_test_{self.run}_{worker}"

    def url_of(self, database: str) -> str:
        return _with_path(self.url, f"/{database}")


@dataclass(frozen=True)
class Scratch:
    """What the controller hands each xdist worker (as JSON, through `workerinput`)."""

    redis: ScratchRedis
    postgres: ScratchPostgres

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, text: str) -> Scratch:
        raw = json.loads(text)
        return cls(ScratchRedis(**raw["redis"]), ScratchPostgres(**raw["postgres"]))


def _with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path))


def _private_dir(kind: str) -> Path:
    """A fresh folder under /tmp, removed by the caller: as root, the embedded Postgres' system
    user must traverse it (pytest's own tmp folders sit under a 0700 one)."""
    return Path(tempfile.mkdtemp(prefix=f"tarif-test-{kind}-"))


@contextlib.contextmanager
def run_redis() -> Iterator[ScratchRedis]:
    """REDIS_URL's server, or an embedded one for as long as the block runs."""
    if url := os.environ.get("REDIS_URL"):
        yield ScratchRedis(url, shared=True)
        return
    root = _private_dir("redis")
    try:
        # everysec: the suite does not test crash durability here (test_embedded does).
        with EmbeddedRedis(root / "redis", appendfsync="everysec") as server:
            yield ScratchRedis(_with_path(server.url, f"/{EMBEDDED_FIRST_DATABASE}"), False)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def run_postgres() -> Iterator[ScratchPostgres]:
    """DATABASE_URL's server, or an embedded one, with the run's template database migrated."""
    with contextlib.ExitStack() as stack:
        url = os.environ.get("DATABASE_URL")
        if not url:
            root = _private_dir("pg")
            stack.callback(shutil.rmtree, root, True)
            url = stack.enter_context(EmbeddedPostgres(root / "pg", owned_root=root)).url
        scratch = ScratchPostgres(url, uuid.uuid4().hex[:10])
        stack.callback(lambda: asyncio.run(_drop(scratch, scratch.template)))
        asyncio.run(_create_template(scratch))
        yield scratch


@contextlib.contextmanager
def run_scratch() -> Iterator[Scratch]:
    with run_redis() as redis_server, run_postgres() as postgres_server:
        yield Scratch(redis_server, postgres_server)


@contextlib.contextmanager
def worker_redis(scratch: ScratchRedis, worker: int) -> Iterator[str]:
    """The worker's Redis database URL; on a shared server, checked before and marked after."""
    url = scratch.for_worker(worker)
    if not scratch.shared:
        yield url
        return
    with redis.Redis.from_url(url) as client:
        try:
            foreign = worker > 0 and client.dbsize() > 0 and not client.exists(MARK)
        except redis.ResponseError as exc:  # "DB index is out of range"
            raise RuntimeError(
                f"xdist worker {worker} needs Redis database {url} ({exc}): point REDIS_URL at a "
                "lower database number or run fewer workers"
            ) from exc
    if foreign:
        raise RuntimeError(
            f"Redis database {url} holds data that no test run left, and xdist worker {worker} "
            "would flush it: the suite uses REDIS_URL's database and the ones after it, one per "
            "worker. Empty it if it is scratch (FLUSHDB), or move REDIS_URL."
        )
    try:
        yield url
    finally:
        with contextlib.suppress(redis.RedisError), redis.Redis.from_url(url) as client:
            client.set(MARK, "the test suite flushes this database (see tests/scratch.py)")


@contextlib.contextmanager
def worker_postgres(scratch: ScratchPostgres, worker: int) -> Iterator[str]:
    """A database of the worker's own, cloned from the run's template; dropped at the end."""
    name = scratch.database(worker)
    asyncio.run(_run(scratch.url, f'CREATE DATABASE "{name}" TEMPLATE "{scratch.template}"'))
    try:
        yield scratch.url_of(name)
    finally:
        asyncio.run(_drop(scratch, name))


async def empty_tables(conn: asyncpg.Connection) -> None:
    """Every table but the migrations' ledger emptied, identities restarted."""
    try:
        await conn.execute(_EMPTY_TABLES)
    except asyncpg.InsufficientPrivilegeError:
        await conn.execute(_TRUNCATE_TABLES)


async def _create_template(scratch: ScratchPostgres) -> None:
    await _run(scratch.url, f'CREATE DATABASE "{scratch.template}"')
    await db.migrate_url(scratch.url_of(scratch.template))
    # Nobody connects to it again: CREATE DATABASE ... TEMPLATE refuses a template in use.
    await _run(scratch.url, f'ALTER DATABASE "{scratch.template}" WITH ALLOW_CONNECTIONS false')


async def _drop(scratch: ScratchPostgres, name: str) -> None:
    await _run(scratch.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _run(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()
