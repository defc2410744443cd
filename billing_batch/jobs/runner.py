"""One run's life on a worker: taken, run by its job type's `run_once`, finished (and its chained
jobs started), or handed back when the process stops.

A worker holds a Postgres advisory lock on the run while it runs it (on a connection of its own):
a second worker given the same run (PgQueuer hands a job on when its worker stops heartbeating)
finds it held and leaves it, so a run is never run twice at once. The lock goes with the
session, so a killed worker's run is free at once; the next worker resumes it (every job type is
idempotent), and after `jobs_max_attempts` starts whose workers all died it is marked failed.

Statuses (docs/jobs.md): queued -> running -> succeeded | failed. A run is `succeeded` when
`run_once` returned and no item failed; `failed` when it raised (`error`), when its workers died
too often, or when some items failed (the counts say how many; a retry re-does only those).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import asyncpg

from billing_batch.jobs.context import JobContext, RunOnce
from billing_batch.metrics import BatchMetrics
from tarif_jobs.failures import record_failure
from tarif_jobs.items import RunItems, describe
from tarif_jobs.queue import enqueue_run
from tarif_jobs.runs import ItemRef, RunRequest
from tarif_postgres import queries
from tarif_postgres.driver import TarifConnection

log = logging.getLogger(__name__)
Q = queries.load("jobs")

# advisory lock keys of runs: LOCK_BASE + run id (run ids stay far below 2**40)
LOCK_BASE = int.from_bytes(b"tjr", "big") << 40

# what became of a run handed to this worker
Outcome = Literal["finished", "requeued", "skipped", "held"]


@dataclass
class Progress:
    """The progress gauges of the runs going on in this process, summed by job type."""

    metrics: BatchMetrics
    # run id -> (job type, (total, succeeded, failed))
    _runs: dict[int, tuple[str, tuple[int, int, int]]] = field(default_factory=dict)

    def update(self, run_id: int, job_type: str, total: int, ok: int, failed: int) -> None:
        before = self._runs.get(run_id, (job_type, (0, 0, 0)))[1][2]
        if failed > before:
            self.metrics.job_failed_items.labels(job_type).inc(failed - before)
        self._runs[run_id] = (job_type, (total, ok, failed))
        self._publish(job_type)

    def forget(self, run_id: int) -> None:
        if (found := self._runs.pop(run_id, None)) is not None:
            self._publish(found[0])

    def _publish(self, job_type: str) -> None:
        mine = [counts for kind, counts in self._runs.values() if kind == job_type]
        for i, count in enumerate(("total", "succeeded", "failed")):
            self.metrics.job_items.labels(job_type, count).set(sum(c[i] for c in mine))


class Runner:
    """Runs the runs this process's worker is handed (see the module docstring)."""

    def __init__(
        self,
        context: JobContext,
        metrics: BatchMetrics,
        *,
        worker: str,
        max_attempts: int,
        job_types: Callable[[str], RunOnce],
    ) -> None:
        self.context = context
        self.pool: asyncpg.Pool = context.pool
        self.metrics = metrics
        self.worker = worker
        self.max_attempts = max_attempts
        self.job_types = job_types
        self.progress = Progress(metrics)

    async def run(self, run_id: int) -> Outcome:
        """Run `run_id` as far as it goes; what became of it."""
        async with self.pool.acquire() as holder:
            if not await holder.fetchval(Q.hold_run, LOCK_BASE, run_id):
                log.info("job_run.held_elsewhere", extra={"run": run_id})
                return "held"
            try:
                return await self._run_held(run_id)
            finally:
                try:
                    await holder.fetchval(Q.release_run, LOCK_BASE, run_id)
                except BaseException:
                    holder.terminate()  # the lock goes with the session
                    raise

    async def _run_held(self, run_id: int) -> Outcome:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(Q.lock_run, run_id)
            if row is None or row["status"] in ("succeeded", "failed"):
                return "skipped"
            if row["status"] == "running" and row["attempts"] >= self.max_attempts:
                # started that many times, and each time its worker died before the end
                gave_up = (
                    f"gave up after {row['attempts']} attempts: the worker running it stopped"
                    " before the end each time (killed, or lost its database connection)"
                )
                finished = await self._finish(conn, row, gave_up)
            else:
                await conn.execute(Q.start_run, run_id, self.worker)
                only = await self._only(conn, row)
                finished = None
        if finished is not None:
            self._count(row["job_type"], finished)
            return "finished"
        log.info(
            "job_run.started",
            extra={"run": run_id, "job_type": row["job_type"], "attempt": row["attempts"] + 1},
        )
        request = RunRequest(row["process_now"], dict(row["criteria"]), only, run_id)
        error = await self._run_once(row["job_type"], request)
        if self.context.stop():
            # the process is stopping: whether or not the job type got to the end, the run is
            # handed back and resumed (a job type does nothing twice)
            await self.pool.execute(Q.requeue_run, run_id)
            log.info("job_run.requeued", extra={"run": run_id})
            return "requeued"
        async with self.pool.acquire() as conn, conn.transaction():
            finished = await self._finish(conn, row, error)
        self._count(row["job_type"], finished)
        return "finished"

    async def _only(self, conn: TarifConnection, row: asyncpg.Record) -> frozenset[ItemRef] | None:
        """What a retry re-does: the failed items of the run it retries that no other retry
        took (marked as taken by this one); everything (None) when that run ended with an
        error, before its end (its failed items, if any, are re-done with the rest)."""
        if row["retry_of"] is None:
            return None
        taken = await conn.fetch(Q.take_retried_items, row["id"], row["retry_of"])
        if row["retried_error"] is not None:
            return None
        return frozenset(ItemRef(r["object_type"], r["object_id"]) for r in taken)

    async def _run_once(self, job_type: str, request: RunRequest) -> str | None:
        """Run the job type; its error (None: it returned)."""
        assert request.run_id is not None
        items = RunItems(
            self.pool,
            request.run_id,
            f"job.{job_type}",
            on_progress=partial(self.progress.update, request.run_id, job_type),
        )
        self.metrics.jobs_running.labels(job_type).inc()
        try:
            try:
                run_once = self.job_types(job_type)
            except (KeyError, ImportError) as exc:
                return f"job type {job_type!r} has no run_once in this batch ({exc!r})"
            try:
                await run_once(self.context, request, items)
            except Exception as exc:
                log.exception("job_run.error", extra={"run": request.run_id})
                return describe(exc)
            return None
        finally:
            self.metrics.jobs_running.labels(job_type).dec()
            try:
                await items.flush()
            finally:
                self.progress.forget(request.run_id)

    async def _finish(
        self, conn: TarifConnection, row: asyncpg.Record, error: str | None
    ) -> asyncpg.Record:
        """The run's end, in the caller's transaction: its status, the alert for an error, and
        after a success a run of every job chained to its job (none after a failure)."""
        run_id = row["id"]
        done = await conn.fetchrow(Q.finish_run, run_id, error)
        if error is not None:
            await record_failure(
                conn,
                f"job.{row['job_type']}",
                ItemRef("job_run", str(run_id)),
                f"run {run_id} failed: {error.splitlines()[-1] if error else 'error'}",
                cause="the run stopped before its end; a retry runs it again",
                run_id=run_id,
                severity="critical",
                alert_key=f"job-run:{run_id}",
            )
        if done["status"] == "succeeded" and done["job_id"] is not None:
            first = await conn.fetchval(Q.first_of_retries, run_id)
            for chained in await conn.fetch(
                Q.start_chained_runs, run_id, done["job_id"], done["process_now"], first
            ):
                await enqueue_run(conn, chained["id"])
        log.info(
            "job_run.finished",
            extra={
                "run": run_id,
                "job_type": row["job_type"],
                "status": done["status"],
                "total": done["total"],
                "succeeded": done["succeeded"],
                "failed": done["failed"],
            },
        )
        return done

    def _count(self, job_type: str, done: Any) -> None:
        self.metrics.job_runs.labels(job_type, done["status"]).inc()
        if done["seconds"] is not None:
            self.metrics.job_run_seconds.labels(job_type).observe(done["seconds"])
