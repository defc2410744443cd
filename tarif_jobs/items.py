"""The item log of a run in Postgres: counts flushed in batches (progress readable while the run
goes, without a write per item), failed items written at once with their activity-log entry and
alert, each in its own short transaction (no transaction spans a run)."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable

import asyncpg

from tarif_jobs.failures import record_failure
from tarif_jobs.runs import ItemRef
from tarif_postgres import queries

Q = queries.load("jobs")


def describe(error: BaseException | str) -> str:
    """The full error of a failed item: the message, and for an exception its traceback."""
    if isinstance(error, str):
        return error
    return "".join(traceback.format_exception(error)).strip()


class RunItems:
    """`tarif_jobs.runs.Items` for run `run_id`, writing to `job_runs` / `job_run_items`.

    Call `flush()` at the end of the run (the runner does); counts are also flushed every
    `every` seconds or `batch` items, whichever comes first."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        run_id: int,
        process: str,
        *,
        every: float = 1.0,
        batch: int = 1000,
        on_progress: Callable[[int, int, int], None] | None = None,
    ) -> None:
        self.pool = pool
        self.run_id = run_id
        self.process = process
        self._every = every
        self._batch = batch
        self._on_progress = on_progress
        self._total = self._ok = self._failed = 0
        self._pending = [0, 0, 0]
        self._flushed_at = time.monotonic()

    @property
    def counts(self) -> tuple[int, int, int]:
        """(total, succeeded, failed) reported so far."""
        return self._total, self._ok, self._failed

    async def add_total(self, n: int) -> None:
        self._total += n
        self._pending[0] += n
        await self._maybe_flush()

    async def succeeded(self, n: int = 1) -> None:
        self._ok += n
        self._pending[1] += n
        await self._maybe_flush()

    async def failed(self, ref: ItemRef, error: BaseException | str, *, cause: str = "") -> None:
        self._failed += 1
        self._pending[2] += 1
        text = describe(error)
        message = text.splitlines()[-1] if text else "failed"
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                Q.insert_failed_item, self.run_id, ref.object_type, ref.object_id, text, cause
            )
            await record_failure(
                conn,
                self.process,
                ref,
                message,
                cause=cause,
                run_id=self.run_id,
                alert_key=f"job-run:{self.run_id}",
            )
        await self._maybe_flush()

    async def flush(self) -> None:
        total, ok, failed = self._pending
        if total or ok or failed:
            await self.pool.execute(Q.add_run_counts, self.run_id, total, ok, failed)
            self._pending = [0, 0, 0]
        self._flushed_at = time.monotonic()
        if self._on_progress is not None:
            self._on_progress(self._total, self._ok, self._failed)

    async def _maybe_flush(self) -> None:
        if sum(self._pending) >= self._batch or time.monotonic() - self._flushed_at >= self._every:
            await self.flush()
