"""Runs handed to workers through PgQueuer (a Postgres-backed queue): the scheduler, "run now"
and retry insert a `job_runs` row and enqueue its id in the same transaction, so a run exists
in the queue exactly when its row does. The dedupe key keeps one queue entry per run."""

from __future__ import annotations

import asyncpg
from pgqueuer import Queries

# the one PgQueuer entrypoint the batch's workers serve
ENTRYPOINT = "tarif_job_run"


async def enqueue_run(conn: asyncpg.Connection, run_id: int) -> None:
    """Queue run `run_id` (in the caller's transaction; a second call for the run is a no-op)."""
    await Queries.from_asyncpg_connection(conn).enqueue(
        ENTRYPOINT, str(run_id).encode(), dedupe_key=f"job-run:{run_id}", on_conflict="skip"
    )
