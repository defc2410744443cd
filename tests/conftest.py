"""Test harness: real Redis and Postgres, a database of each per xdist worker (tests/scratch.py).

REDIS_URL / DATABASE_URL set: those servers are used, and only scratch databases on them (the
URL's Redis database and the ones after it; Postgres databases this run creates and drops).
Unset (CI, a fresh machine): one embedded server of each for the whole run. Under xdist the
controller starts them before its first worker and stops them after the last; without xdist the
first test that needs one starts it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from tests import scratch
from tests.scratch import Scratch, ScratchPostgres, ScratchRedis

_SCRATCH = "tarif_scratch"  # workerinput key
_RUN = pytest.StashKey[tuple[contextlib.ExitStack, Scratch]]()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist's controller, before each worker starts: the run's servers, started once."""
    config: pytest.Config = node.config
    if _RUN not in config.stash:
        stack = contextlib.ExitStack()
        config.stash[_RUN] = (stack, stack.enter_context(scratch.run_scratch()))
    node.workerinput[_SCRATCH] = config.stash[_RUN][1].dumps()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _RUN in config.stash:
        config.stash[_RUN][0].close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked slow first (in their order): under xdist the long ones start at once, one
    per worker, and the short ones fill in around them instead of leaving one worker on a long
    test at the end of the run."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def _given(config: pytest.Config) -> Scratch | None:
    """What xdist's controller prepared, in a worker; None without xdist."""
    text = getattr(config, "workerinput", {}).get(_SCRATCH)
    return Scratch.loads(text) if text else None


@pytest.fixture(scope="session")
def worker_number(request: pytest.FixtureRequest) -> int:
    """0 without xdist, n in worker `gwn`."""
    workerid: str = getattr(request.config, "workerinput", {}).get("workerid", "gw0")
    return int(workerid.removeprefix("gw"))


@pytest.fixture(scope="session")
def scratch_redis(request: pytest.FixtureRequest) -> Iterator[ScratchRedis]:
    if given := _given(request.config):
        yield given.redis
        return
    with scratch.run_redis() as server:
        yield server


@pytest.fixture(scope="session")
def scratch_postgres(request: pytest.FixtureRequest) -> Iterator[ScratchPostgres]:
    if given := _given(request.config):
        yield given.postgres
        return
    with scratch.run_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(scratch_redis: ScratchRedis, worker_number: int) -> Iterator[str]:
    """This worker's Redis database."""
    with scratch.worker_redis(scratch_redis, worker_number) as url:
        yield url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client on this worker's Redis database, flushed first."""
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def database_url(scratch_postgres: ScratchPostgres, worker_number: int) -> Iterator[str]:
    """This worker's Postgres database, migrated (a clone of the run's template)."""
    with scratch.worker_postgres(scratch_postgres, worker_number) as url:
        yield url


@pytest.fixture
async def pg(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on this worker's database, every table emptied first."""
    from tarif_postgres import db

    pool = await db.create_pool(database_url, max_size=10)
    async with pool.acquire() as conn:
        await scratch.empty_tables(conn)
    yield pool
    await pool.close()


@pytest.fixture(autouse=True)
def _root_logging() -> Iterator[None]:
    """Give every test the root logger's handlers and level back: a CLI command run in-process
    sets logging up for its process, with a handler on the test's captured stderr, which is
    closed once that test ends (a later test logging through it would fail)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level
