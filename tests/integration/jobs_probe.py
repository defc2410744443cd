"""A job type of the scheduler and worker tests only (`probe`), to drive the machinery around
job types: it does `units` units (criteria), each recorded once in the activity log as object
("probe", "<key>:<i>") and reported as an item, `pause` seconds apart, stopping at a unit
boundary when asked. Switches, set by the test in Redis (the "data" a retry waits for):
`probe:crash` kills the worker process at unit `crash_at`; `probe:broken` fails unit `broken`
as an item; `probe:raise` makes the run raise."""

from __future__ import annotations

import asyncio
import os
import signal

from billing_batch.jobs.context import JobContext
from tarif_jobs.runs import ItemRef, Items, RunRequest

# every unit done is recorded (not "if not there yet"): a unit done twice shows as two rows
RECORD = (
    "INSERT INTO activity_log (level, process, object_type, object_id, message, run_id)"
    " VALUES ('info', 'probe', 'probe', $1, $2, $3)"
)
DONE = "SELECT object_id FROM activity_log WHERE process = 'probe' AND object_id LIKE $1 || ':%'"


async def run_once(ctx: JobContext, request: RunRequest, items: Items) -> None:
    c = request.criteria
    key = str(c.get("key", f"run{request.run_id}"))
    units = [ItemRef("unit", str(i)) for i in range(int(c.get("units", 1)))]
    done = {r["object_id"] for r in await ctx.pool.fetch(DONE, key)}
    left = [u for u in units if request.wants(u) and f"{key}:{u.object_id}" not in done]
    await items.add_total(len(left))
    for unit in left:
        if ctx.stop():
            return
        i = int(unit.object_id)
        if i == c.get("crash_at") and await ctx.redis.exists("probe:crash"):
            os.kill(os.getpid(), signal.SIGKILL)
        if i == c.get("broken") and await ctx.redis.exists("probe:broken"):
            await items.failed(unit, f"unit {i} is broken", cause="probe:broken is set")
            continue
        await ctx.pool.execute(RECORD, f"{key}:{i}", f"pid {os.getpid()}", request.run_id)
        await items.succeeded()
        await asyncio.sleep(float(c.get("pause", 0)))
    if await ctx.redis.exists("probe:raise"):
        raise RuntimeError("the probe was told to raise")
