"""Job workers side by side and killed: two batch apps over 200 due jobs run each run exactly
once; a worker process killed (SIGKILL) mid-run has its run resumed by another, never run twice;
one stopped (SIGTERM) hands its run back at a unit boundary; a run whose workers die each time is
marked failed after the attempts allowed, and its retry finishes it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from billing_batch.app import BatchApp
from tarif_postgres import db
from tests.integration.scheduler_harness import (
    insert_job,
    job_types,
    probe_units,
    retry,
    runs,
    settings,
)

REPO = Path(__file__).resolve().parents[2]


async def eventually(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"not in {within} s: {what}"
        await asyncio.sleep(0.05)


async def status_of(pool: asyncpg.Pool, run_id: int) -> str:
    found: str = await pool.fetchval("SELECT status FROM job_runs WHERE id = $1", run_id)
    return found


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_two_batch_apps_run_each_of_200_due_runs_exactly_once(
    pg: asyncpg.Pool, redis: Redis, redis_url: str, database_url: str
) -> None:
    apps: list[BatchApp] = []
    async with AsyncExitStack() as stack:
        for name in ("one", "two"):
            s = settings(redis_url, database_url, batch_consumer=name, jobs_concurrency=4)
            app = BatchApp(s, serve_metrics=False, idle_poll=0.05, job_types=job_types)
            apps.append(await stack.enter_async_context(app))
        # due at once, for both schedulers and both workers
        due = datetime.now(UTC) - timedelta(minutes=1)
        async with pg.acquire() as conn, conn.transaction():
            ids = [
                await insert_job(
                    conn,
                    f"job-{i}",
                    kind="once",
                    start_at=due,
                    criteria={"key": f"j{i}", "pause": 0.01},
                )
                for i in range(200)
            ]

        async def all_done() -> bool:
            done: int = await pg.fetchval(
                "SELECT count(*) FROM job_runs WHERE status = 'succeeded'"
            )
            return done == 200

        await eventually(all_done, 60, "200 runs succeeded")
    assert not any(app.failed for app in apps)  # stopped in order, no task died
    every_run = await runs(pg)
    assert sorted(r["job_id"] for r in every_run) == ids  # one run per due job
    assert {(r["status"], r["attempts"], r["total"], r["succeeded"]) for r in every_run} == {
        ("succeeded", 1, 1, 1)
    }
    # every run was run once: one unit recorded per job, by the run of that job
    units = await pg.fetch("SELECT object_id, run_id FROM activity_log WHERE process = 'probe'")
    assert sorted(u["object_id"] for u in units) == sorted(f"j{i}:0" for i in range(200))
    assert Counter(u["run_id"] for u in units) == Counter({r["id"]: 1 for r in every_run})
    workers = Counter(r["worker"].split(":")[0] for r in every_run)
    assert set(workers) == {"one", "two"}, workers  # both took their share
    finished = sum(
        app.registry.get_sample_value(
            "tarif_job_runs_total", {"job_type": "probe", "status": "succeeded"}
        )
        or 0
        for app in apps
    )
    assert finished == 200
    assert await pg.fetchval("SELECT count(*) FROM pgqueuer") == 0  # the queue is empty


def _environment(redis_url: str, database_url: str, name: str, tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "TARIF_STATE_DIR": str(tmp),
        "TARIF_BATCH_CONSUMER": name,
        "TARIF_BATCH_METRICS_ADDR": "127.0.0.1:0",
        "TARIF_ENVIRONMENT": "test",
        "TARIF_JOBS_POLL_INTERVAL": "0.2",
        "TARIF_JOBS_HEARTBEAT_TIMEOUT": "2",
        "TARIF_JOBS_MAX_ATTEMPTS": "2",
        "TARIF_SHUTDOWN_GRACE": "10",
        "TARIF_LOG_LEVEL": "WARNING",
    }


@asynccontextmanager
async def worker_processes(
    redis_url: str, database_url: str, tmp: Path
) -> AsyncIterator[Callable[[str], Awaitable[asyncio.subprocess.Process]]]:
    """Starts batch processes (`start(name)`, ready once it answers); kills what is left."""
    started: list[asyncio.subprocess.Process] = []

    async def start(name: str) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.jobs_worker",
            env=_environment(redis_url, database_url, name, tmp),
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
        )
        started.append(process)
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert line.strip() == b"ready", line
        return process

    try:
        yield start
    finally:
        for process in started:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def _probe_job(pg: asyncpg.Pool, key: str, **criteria: Any) -> int:
    """A one-off probe job due now, its run made by a worker's scheduler: the job's id."""
    start = datetime.now(UTC) - timedelta(seconds=1)
    return await insert_job(pg, key, kind="once", start_at=start, criteria={"key": key, **criteria})


async def _run_of(pg: asyncpg.Pool, job_id: int) -> dict[str, Any]:
    async def made() -> bool:
        return bool(await runs(pg, job_id))

    await eventually(made, 10, "the scheduler made the run")
    return (await runs(pg, job_id))[0]


@pytest.mark.fault
@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_a_worker_killed_mid_run_has_its_run_resumed_not_run_twice(
    pg: asyncpg.Pool, redis_url: str, database_url: str, tmp_path: Path
) -> None:
    async with worker_processes(redis_url, database_url, tmp_path) as start:
        first = await start("first")
        job_id = await _probe_job(pg, "kill", units=30, pause=0.1)
        run = await _run_of(pg, job_id)

        async def progressing() -> bool:  # the progress is readable while the run goes on
            done: int = await pg.fetchval(
                "SELECT succeeded FROM job_runs WHERE id = $1 AND total = 30", run["id"]
            )
            return bool(done and done >= 5)

        await eventually(progressing, 20, "the first worker did 5 units")
        first.send_signal(signal.SIGKILL)
        assert await first.wait() == -signal.SIGKILL
        assert await status_of(pg, run["id"]) == "running"
        done_before = len(await probe_units(pg, "kill"))

        await start("second")  # takes the entry once the dead worker's heartbeat is stale

        async def finished() -> bool:
            return await status_of(pg, run["id"]) == "succeeded"

        await eventually(finished, 30, "the second worker finished the run")
    units = await probe_units(pg, "kill")
    assert sorted(units) == sorted(f"kill:{i}" for i in range(30))  # each unit once
    assert 5 <= done_before < 30
    (run,) = await runs(pg, job_id)
    assert (run["attempts"], run["worker"].split(":")[0]) == (2, "second")
    assert (run["total"], run["failed"]) == (30, 0)


@pytest.mark.fault
@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_a_stopped_worker_hands_its_run_back_at_a_unit_boundary(
    pg: asyncpg.Pool, redis_url: str, database_url: str, tmp_path: Path
) -> None:
    async with worker_processes(redis_url, database_url, tmp_path) as start:
        first = await start("first")
        job_id = await _probe_job(pg, "stop", units=30, pause=0.1)
        run = await _run_of(pg, job_id)

        async def started() -> bool:
            return len(await probe_units(pg, "stop")) >= 3

        await eventually(started, 20, "the first worker did 3 units")
        first.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(first.wait(), 15) == 0
        assert await status_of(pg, run["id"]) == "queued"  # handed back, not failed
        assert await pg.fetchval("SELECT count(*) FROM pgqueuer WHERE status = 'queued'") == 1

        await start("second")

        async def finished() -> bool:
            return await status_of(pg, run["id"]) == "succeeded"

        await eventually(finished, 20, "the second worker finished the run")
    assert sorted(await probe_units(pg, "stop")) == sorted(f"stop:{i}" for i in range(30))
    (run,) = await runs(pg, job_id)
    assert run["attempts"] == 2


@pytest.mark.fault
@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_a_run_whose_workers_die_each_time_fails_and_its_retry_finishes_it(
    pg: asyncpg.Pool, redis: Redis, redis_url: str, database_url: str, tmp_path: Path
) -> None:
    await redis.set("probe:crash", 1)  # the probe kills its worker at unit 3, every time
    async with worker_processes(redis_url, database_url, tmp_path) as start:
        for name in ("first", "second"):
            worker = await start(name)
            if name == "first":
                job_id = await _probe_job(pg, "crash", units=8, crash_at=3)
                run = await _run_of(pg, job_id)
            assert await asyncio.wait_for(worker.wait(), 20) == -signal.SIGKILL
        assert (await runs(pg, job_id))[0]["attempts"] == 2  # TARIF_JOBS_MAX_ATTEMPTS

        await start("third")  # finds the run's workers died twice: failed

        async def failed() -> bool:
            return await status_of(pg, run["id"]) == "failed"

        await eventually(failed, 20, "the run was marked failed")
        (run,) = await runs(pg, job_id)
        assert "gave up after 2 attempts" in run["error"]
        alert = await pg.fetchrow(
            "SELECT * FROM alerts WHERE alert_key = $1", f"job-run:{run['id']}"
        )
        assert alert["severity"] == "critical"

        await redis.delete("probe:crash")  # the cause is fixed
        again = await retry(pg, run["id"])

        async def retried() -> bool:
            return await status_of(pg, again) == "succeeded"

        await eventually(retried, 20, "the retry succeeded")
    assert sorted(await probe_units(pg, "crash")) == sorted(f"crash:{i}" for i in range(8))
    retry_run = (await runs(pg, job_id))[-1]
    assert (retry_run["trigger"], retry_run["total"], retry_run["succeeded"]) == ("retry", 5, 5)


@pytest.mark.fault
@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_the_worker_outlives_its_database_connections_being_cut(
    pg: asyncpg.Pool, redis_url: str, database_url: str
) -> None:
    s = settings(redis_url, database_url, jobs_poll_interval=0.2)
    async with BatchApp(s, serve_metrics=False, idle_poll=0.05, job_types=job_types) as app:
        job_id = await _probe_job(pg, "before")
        await eventually(lambda: _succeeded(pg, job_id), 20, "the first run")
        # every connection of the batch cut (a database restart, a failover)
        async with pg.acquire() as conn:
            cut = await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend'"
            )
        assert cut > 0
        reader = await db.create_pool(database_url, max_size=2)  # the test's own were cut too
        try:
            job_id = await _probe_job(reader, "after")
            await eventually(lambda: _succeeded(reader, job_id), 30, "a run after the cut")
        finally:
            await reader.close()
        assert not app.failed


async def _succeeded(pg: asyncpg.Pool, job_id: int) -> bool:
    found = await runs(pg, job_id)
    return bool(found) and found[0]["status"] == "succeeded"
