"""The batch's job worker: PgQueuer's QueueManager serving the entrypoint `tarif_job_run`, whose
payload is a run id, with the Runner.

PgQueuer claims each queue entry for one worker (`FOR UPDATE SKIP LOCKED`), wakes the workers
on LISTEN/NOTIFY when a run is queued, and keeps a heartbeat on the entries being run: an entry
whose worker stops heartbeating for `jobs_heartbeat_timeout` is handed to another worker, which
resumes the run. Stopping: no new entry is taken, the runs going on see `ctx.stop()` and return
at a unit boundary, and the Runner hands them back (RetryRequested queues the entry again)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import asyncpg
from pgqueuer import AsyncpgPoolDriver, Job, Queries, QueueManager, RetryRequested
from pgqueuer.errors import FailingListenerError

from billing_batch.jobs.runner import Runner
from tarif_common.lifecycle import TRANSIENT, sleep_unless
from tarif_common.settings import Settings
from tarif_jobs.queue import ENTRYPOINT
from tarif_postgres.driver import DB_ERRORS

log = logging.getLogger(__name__)
_TRANSIENT: tuple[type[BaseException], ...] = (*TRANSIENT, *DB_ERRORS, FailingListenerError)


class JobWorker:
    def __init__(self, pool: asyncpg.Pool, runner: Runner, settings: Settings) -> None:
        self.pool = pool
        self.runner = runner
        self.settings = settings
        self._queue = self._queue_manager()
        self._serving: asyncio.Task[None] | None = None
        self._stopping = False

    def _queue_manager(self) -> QueueManager:
        queue = QueueManager(Queries(AsyncpgPoolDriver(self.pool)))
        queue.entrypoint(ENTRYPOINT, accepts_context=False)(self._handle)
        return queue

    def stopping(self) -> bool:
        """True once the worker is stopping (what the runs see as `ctx.stop()`)."""
        return self._stopping

    async def _handle(self, job: Job) -> None:
        run_id = int((job.payload or b"").decode())
        if await self.runner.run(run_id) == "requeued":
            raise RetryRequested(reason="the worker stopped; the run resumes")

    async def run(self, stopped: asyncio.Event) -> None:
        """Serve until `stopped` is set (or `stop()` is called). When the database goes away
        or the listener stops hearing, PgQueuer's loop ends with the error: it starts again
        (the runs it had finish first); any other error ends the worker."""
        s = self.settings
        while True:
            self._serving = asyncio.create_task(
                self._queue.run(
                    dequeue_timeout=timedelta(seconds=s.jobs_poll_interval),
                    batch_size=1,
                    max_concurrent_tasks=s.jobs_concurrency,
                    heartbeat_timeout=timedelta(seconds=s.jobs_heartbeat_timeout),
                    # a listener that stopped hearing NOTIFY ends the loop, which starts again
                    # on a fresh connection (else runs would wait for the next poll)
                    shutdown_on_listener_failure=True,
                ),
                name="pgqueuer",
            )
            waiting = asyncio.create_task(stopped.wait())
            try:
                await asyncio.wait({self._serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiting.cancel()
            if not self._serving.done():
                await self.stop(s.shutdown_grace)
            try:
                await self._serving
            except _TRANSIENT as exc:
                if not self._stopping:
                    log.warning("jobs.worker_restarts", extra={"error": repr(exc)})
                    await sleep_unless(stopped, s.jobs_poll_interval)
            if self._stopping or stopped.is_set():
                # stopped by the process (`stop()` comes before it sets `stopped`): end with it,
                # so the process does not take this task's end for a death
                await stopped.wait()
                return
            self._queue = self._queue_manager()

    async def stop(self, grace: float) -> None:
        """Take no new run; give the runs going on `grace` seconds to reach a unit boundary and
        be handed back, then cancel them (a cancelled run is queued again by the scheduler's
        sweep). Safe to call twice."""
        self._stopping = True
        self._queue.shutdown.set()
        serving = self._serving
        if serving is None or serving.done():
            return
        done, _ = await asyncio.wait({serving}, timeout=grace)
        if not done:
            log.warning("jobs.worker_stop_timeout", extra={"grace": grace})
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving
