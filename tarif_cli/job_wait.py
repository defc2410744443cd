"""`tarif jobs run --wait` and `tarif jobs retry --wait`: follow a queued run to its end.

The CLI only queues a run; a batch worker runs it and writes its counts to `job_runs` as it
goes (`tarif_jobs.items`). Waiting reads the run every `POLL` seconds and reports its done/total
as progress, so an operator (or a CI step) sees it move and gets the final run back.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import asyncpg

from tarif_common.progress import Progress

POLL = 0.5  # seconds between two reads of the run
NUDGE_AFTER = 10.0  # seconds queued before saying that no batch worker seems to take it
FINISHED = ("succeeded", "failed")


async def follow(
    pool: asyncpg.Pool,
    run_id: int,
    progress: Progress,
    *,
    give_up_after: float | None = None,
) -> dict[str, Any]:
    """The run once it finished, or as it is when `give_up_after` seconds passed; its items done
    (succeeded + failed) against its total are reported to `progress` on the way."""
    from admin_api import job_runs

    async def read() -> dict[str, Any]:
        async with pool.acquire() as conn:
            return await job_runs.get_run(conn, run_id)

    begun = time.monotonic()
    run = await read()
    reported, nudged = 0, False
    progress.start(f"run {run_id} ({run['job_type']}) did", "items", run["total"] or None)
    while True:
        done, total = run["progress"]["done"], run["progress"]["total"]
        progress.advance(done - reported, total=total or None)
        reported = done
        if run["status"] in FINISHED:
            progress.done()
            return run
        waited = time.monotonic() - begun
        if give_up_after is not None and waited >= give_up_after:
            return run
        if run["status"] == "queued" and waited >= NUDGE_AFTER and not nudged:
            print(
                f"run {run_id} is still queued: is a batch process running"
                " (`tarif batch` or `tarif up`)?",
                file=sys.stderr,
            )
            nudged = True
        await asyncio.sleep(POLL)
        run = await read()
