"""Running one job type's `run_once` as the batch's worker does: a `job_runs` row, the item log
(`RunItems`) and the job context over the test's Postgres and the engine's Redis; what the run
counted and the failed items it kept, read back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from redis.asyncio import Redis

from billing_batch.jobs.context import JobContext
from billing_batch.jobs.registry import run_once_of
from tarif_common.settings import Settings
from tarif_jobs.items import RunItems
from tarif_jobs.runs import ItemRef, RunRequest


@dataclass(frozen=True)
class Ran:
    run_id: int
    total: int
    succeeded: int
    failed: int
    items: list[dict[str, Any]]  # the failed items: object_type, object_id, error, cause


async def run_job(
    pool: asyncpg.Pool,
    redis: Redis,
    job_type: str,
    process_now: datetime,
    *,
    criteria: dict[str, Any] | None = None,
    only: frozenset[ItemRef] | None = None,
    **settings: Any,
) -> Ran:
    async with pool.acquire() as conn:
        run_id: int = await conn.fetchval(
            "INSERT INTO job_runs (job_type, job_name, trigger, process_now, criteria, status,"
            " started_at) VALUES ($1, $1, 'manual', $2, $3, 'running', now()) RETURNING id",
            job_type,
            process_now,
            criteria or {},
        )
    items = RunItems(pool, run_id, job_type)
    ctx = JobContext(pool, redis, Settings(redis_url="redis://x", database_url="x", **settings))
    request = RunRequest(process_now, criteria or {}, only, run_id)
    await run_once_of(job_type)(ctx, request, items)
    await items.flush()
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM job_runs WHERE id = $1", run_id)
        failed = await conn.fetch(
            "SELECT object_type, object_id, error, cause FROM job_run_items WHERE run_id = $1"
            " ORDER BY object_id",
            run_id,
        )
    return Ran(run_id, row["total"], row["succeeded"], row["failed"], [dict(f) for f in failed])
