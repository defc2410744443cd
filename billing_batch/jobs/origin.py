"""The time a reporting or export run acts as of: a retry covers the period of the run it
retries, whatever "process now" it was given, so it re-does exactly the items that failed."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from tarif_jobs.runs import RunRequest
from tarif_postgres import queries

Q = queries.load("reports")


async def period_time(pool: asyncpg.Pool, request: RunRequest) -> datetime:
    """The "process now" of the first run of `request`'s retry chain (its own without one)."""
    if request.run_id is None:
        return request.process_now
    found: datetime | None = await pool.fetchval(Q.origin_process_now, request.run_id)
    return found or request.process_now
