"""What the jobs API and CLI tests share: PgQueuer's tables, runs and failed items written as
the batch's workers write them (the workers are not under test here), queue entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from tarif_jobs.queue import ENTRYPOINT


async def queued(pool: asyncpg.Pool) -> list[int]:
    """The run ids in the queue, in order."""
    rows = await pool.fetch(
        "SELECT payload FROM pgqueuer WHERE entrypoint = $1 ORDER BY id", ENTRYPOINT
    )
    return [int(bytes(row["payload"]).decode()) for row in rows]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


async def insert_run(
    pool: asyncpg.Pool,
    job: dict[str, Any] | None,
    *,
    status: str = "succeeded",
    queued_at: datetime | None = None,
    seconds: int = 90,
    counts: tuple[int, int, int] = (0, 0, 0),
    error: str | None = None,
    trigger: str = "schedule",
    retry_of: int | None = None,
    items: tuple[tuple[str, str, str], ...] = (),
    job_type: str = "billing",
) -> int:
    """A run as a worker leaves it (started `seconds` before it finished), with failed items
    (object type, object id, error); returns its id."""
    queued_at = queued_at or datetime.now(UTC) - timedelta(minutes=5)
    started = None if status == "queued" else queued_at + timedelta(seconds=1)
    finished = started + timedelta(seconds=seconds) if status in ("succeeded", "failed") else None
    total, ok, failed = counts
    async with pool.acquire() as conn, conn.transaction():
        run_id: int = await conn.fetchval(
            "INSERT INTO job_runs (job_id, job_type, job_name, trigger, process_now, criteria,"
            " retry_of, status, queued_at, started_at, finished_at, total, succeeded, failed,"
            " attempts, worker, error)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
            " RETURNING id",
            job["id"] if job else None,
            job["job_type"] if job else job_type,
            job["name"] if job else "gone",
            trigger,
            queued_at,
            job["criteria"] if job else {},
            retry_of,
            status,
            queued_at,
            started,
            finished,
            total,
            ok,
            failed,
            0 if started is None else 1,
            None if started is None else "worker-1",
            error,
        )
        for object_type, object_id, text in items:
            await conn.execute(
                "INSERT INTO job_run_items (run_id, object_type, object_id, error, cause)"
                " VALUES ($1, $2, $3, $4, 'the data')",
                run_id,
                object_type,
                object_id,
                text,
            )
    return run_id
