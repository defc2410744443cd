"""What the job scheduler and worker tests share: jobs inserted as the admin API stores them,
the settings of a batch that runs jobs, a runner with the test job type `probe`, and reads of
runs and of what the probe did."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from billing_batch.jobs import registry
from billing_batch.jobs.context import JobContext, RunOnce
from billing_batch.jobs.runner import Runner
from billing_batch.jobs.scheduler import Scheduler
from billing_batch.metrics import BatchMetrics
from loadtest import billing_bench
from tarif_common.settings import Settings
from tarif_jobs.queue import enqueue_run
from tests.integration import jobs_probe


def job_types(name: str) -> RunOnce:
    """The batch's job types and the tests' `probe`."""
    return jobs_probe.run_once if name == "probe" else registry.run_once_of(name)


def settings(redis_url: str, database_url: str, **overrides: Any) -> Settings:
    seller = billing_bench.SELLER
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "database_url": database_url,
        "batch_metrics_addr": "127.0.0.1:0",
        "batch_consumer": "test",
        "stream_claim_idle": 0.5,
        "environment": "test",
        "jobs_poll_interval": 0.1,
        "jobs_heartbeat_timeout": 2.0,
        "shutdown_grace": 5.0,
        "invoice_series": "INV",
        "default_tax": "VAT22",
        "seller_name": seller.name,
        "seller_address": seller.address,
        "seller_city": seller.city,
        "seller_postcode": seller.postcode,
        "seller_country": seller.country,
        "seller_vat_id": seller.vat_id,
    }
    return Settings(**(values | overrides))


def runner(
    pool: asyncpg.Pool,
    redis: Redis,
    s: Settings,
    *,
    stop: Callable[[], bool] = lambda: False,
    registry: CollectorRegistry | None = None,
) -> Runner:
    return Runner(
        JobContext(pool, redis, s, stop=stop),
        BatchMetrics(registry or CollectorRegistry()),
        worker="test",
        max_attempts=s.jobs_max_attempts,
        job_types=job_types,
    )


def scheduler(pool: asyncpg.Pool, registry: CollectorRegistry | None = None) -> Scheduler:
    return Scheduler(pool, BatchMetrics(registry or CollectorRegistry()))


async def insert_job(
    pool: asyncpg.Pool | asyncpg.Connection,
    name: str,
    *,
    job_type: str = "probe",
    kind: str = "every",
    start_at: datetime | None = None,
    every: tuple[int, str] | None = None,
    time_zone: str = "UTC",
    parent_id: int | None = None,
    runs_left: int = -1,
    active: bool = True,
    criteria: dict[str, Any] | None = None,
    next_run_at: datetime | None = None,
) -> int:
    """A job as the admin API stores it: a scheduled one's next run is its start."""
    n, unit = every if every else (None, None)
    job_id: int = await pool.fetchval(
        "INSERT INTO jobs (job_type, name, schedule_kind, start_at, every_n, every_unit,"
        " time_zone, parent_id, runs_left, active, criteria, next_run_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        job_type,
        name,
        kind,
        start_at,
        n,
        unit,
        time_zone,
        parent_id,
        runs_left,
        active,
        criteria or {},
        next_run_at if next_run_at is not None or kind == "chained" else start_at,
    )
    return job_id


async def retry(pool: asyncpg.Pool, run_id: int, **criteria: Any) -> int:
    """A retry of run `run_id` as the admin API makes it: a run of the same job and process-now,
    queued."""
    async with pool.acquire() as conn, conn.transaction():
        new: int = await conn.fetchval(
            "INSERT INTO job_runs (job_id, job_type, job_name, trigger, process_now, criteria,"
            " retry_of, requested_by)"
            " SELECT job_id, job_type, job_name, 'retry', process_now, criteria || $2, id, 'test'"
            " FROM job_runs WHERE id = $1 RETURNING id",
            run_id,
            criteria,
        )
        await enqueue_run(conn, new)
    return new


async def runs(pool: asyncpg.Pool, job_id: int | None = None) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT * FROM job_runs WHERE $1::bigint IS NULL OR job_id = $1 ORDER BY id", job_id
    )
    return [dict(r) for r in rows]


async def job(pool: asyncpg.Pool, job_id: int) -> dict[str, Any]:
    return dict(await pool.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id))


async def queued(pool: asyncpg.Pool) -> list[int]:
    """The run ids waiting or taken in PgQueuer's queue."""
    rows = await pool.fetch("SELECT payload FROM pgqueuer ORDER BY id")
    return [int(r["payload"]) for r in rows]


async def probe_units(pool: asyncpg.Pool, key: str) -> list[str]:
    """The units the probe recorded under `key` (a unit twice would be listed twice)."""
    rows = await pool.fetch(
        "SELECT object_id FROM activity_log WHERE process = 'probe' AND object_id LIKE $1 || ':%'"
        " ORDER BY id",
        key,
    )
    return [r["object_id"] for r in rows]


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
