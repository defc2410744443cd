"""Due jobs become runs. Every batch process runs this loop (no leader): a due job is taken with
`FOR UPDATE SKIP LOCKED`, and in one transaction its run is inserted (acting as of the due time),
queued for the workers and the job's next due time set, so each due time makes one run however
many schedulers look. Runs missed while everything was down make one catch-up run
(`tarif_jobs.schedule.catch_up`).

The same loop hands back runs nobody holds any more (their queue entry lost with no worker on
them), reads the open alerts for the metrics, and, once an hour, trims PgQueuer's log of queue
entries older than `queue_log_days` (the run history is ours, in `job_runs`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg
from pgqueuer.domain.settings import db_settings

from billing_batch.jobs.runner import LOCK_BASE
from billing_batch.metrics import BatchMetrics
from tarif_jobs.failures import record_failure
from tarif_jobs.queue import enqueue_run
from tarif_jobs.runs import ItemRef
from tarif_jobs.schedule import Schedule, catch_up
from tarif_postgres import queries
from tarif_postgres.driver import TarifConnection

log = logging.getLogger(__name__)
Q = queries.load("jobs")
SEVERITIES = ("warning", "critical")


def utc_now() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    def __init__(
        self,
        pool: asyncpg.Pool,
        metrics: BatchMetrics,
        *,
        clock: Callable[[], datetime] = utc_now,
        sweep_limit: int = 500,
        queue_log_days: int = 7,
    ) -> None:
        self.pool = pool
        self.metrics = metrics
        self._clock = clock
        self._sweep_limit = sweep_limit
        tables = db_settings().qualified
        self._orphaned = queries.compose(Q.orphaned_runs, queue=tables.queue_table)
        self._trim = queries.compose(Q.trim_queue_log, log=tables.queue_table_log)
        self._queue_log_days = queue_log_days
        self._trimmed_at: datetime | None = None

    async def work(self) -> None:
        """One turn of the loop: due runs, lost runs, the alerts gauge, the queue's log."""
        await self.tick()
        await self.sweep()
        await self.refresh_alerts()
        now = self._clock()
        if self._trimmed_at is None or now - self._trimmed_at >= timedelta(hours=1):
            await self.trim_queue_log()
            self._trimmed_at = now

    async def trim_queue_log(self) -> int:
        """Delete PgQueuer's log rows older than `queue_log_days`; returns how many."""
        status = await self.pool.execute(self._trim, self._queue_log_days)
        return int(status.split()[-1])

    async def tick(self, now: datetime | None = None) -> int:
        """Make the runs due by `now` (default: the clock); returns how many were made."""
        at = now or self._clock()
        made = 0
        while True:
            async with self.pool.acquire() as conn, conn.transaction():
                job = await conn.fetchrow(Q.take_due_job, at)
                if job is None:
                    return made
                made += await self._schedule(conn, job, at)

    async def _schedule(self, conn: TarifConnection, job: asyncpg.Record, at: datetime) -> int:
        """The due run of `job` (one, however many due times were missed) and its next time."""
        try:
            schedule = Schedule(
                job["schedule_kind"],
                job["start_at"],
                job["every_n"],
                job["every_unit"],
                job["time_zone"],
            )
            due, following = catch_up(schedule, at)
        except (ValueError, KeyError, OverflowError) as exc:
            # not schedulable (an unknown time zone, a date past year 9999): no next run until
            # an operator fixes it
            await conn.execute(Q.advance_job, job["id"], None, job["runs_left"])
            await record_failure(
                conn,
                "job.scheduler",
                ItemRef("job", str(job["id"])),
                f"job {job['name']!r} cannot be scheduled: {exc!r}",
                cause="its schedule is invalid; fix it to give it a next run",
            )
            return 0
        runs_left = job["runs_left"]
        run_id = None
        if due is not None:
            run_id = await conn.fetchval(
                Q.insert_run,
                job["id"],
                job["job_type"],
                job["name"],
                "schedule",
                due,
                job["criteria"],
                None,
                None,
                "scheduler",
            )
            await enqueue_run(conn, run_id)
            runs_left = runs_left - 1 if runs_left > 0 else runs_left
        # after the last of its runs, or a one-off's run: no next run
        following = following if runs_left != 0 else None
        await conn.execute(Q.advance_job, job["id"], following, runs_left)
        log.info(
            "job.scheduled",
            extra={
                "job": job["id"],
                "run": run_id,
                "process_now": due.isoformat() if due else None,
                "next_run_at": following.isoformat() if following else None,
            },
        )
        return 0 if run_id is None else 1

    async def sweep(self) -> int:
        """Queue again the queued or running runs nobody holds (no queue entry, no worker's
        lock): a worker gave up on them without finishing, e.g. stopped past its grace time.
        Returns how many."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(self._orphaned, LOCK_BASE, self._sweep_limit)
            for row in rows:
                await enqueue_run(conn, row["id"])
        if rows:
            log.warning("job_runs.requeued", extra={"runs": [r["id"] for r in rows]})
        return len(rows)

    async def refresh_alerts(self) -> None:
        rows = {r["severity"]: r["open"] for r in await self.pool.fetch(Q.open_alerts)}
        for severity in SEVERITIES:
            self.metrics.alerts_open.labels(severity).set(rows.get(severity, 0))
