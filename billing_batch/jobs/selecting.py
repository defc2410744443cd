"""How the purchase jobs select their objects: the run's customer criteria as one SQL condition
on `customers c` (its values numbered after the query's own four: at, after, limit, only), the
ids a retry is restricted to, and the size of the chunks a run takes (each object is then done
in a transaction of its own: no transaction spans a run), and the loop over due objects they
share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import asyncpg

from billing_batch.jobs.context import JobContext
from tarif_jobs.criteria import Criteria
from tarif_jobs.runs import ItemRef, Items, RunRequest

CHUNK = 200  # objects selected at a time


def where(request: RunRequest, first: int = 5) -> tuple[str, list[object]]:
    """The run's criteria as a condition on `customers c`, its values from `$first`."""
    return Criteria.model_validate(dict(request.criteria)).where("c", first)


def only(request: RunRequest, object_type: str) -> list[int] | None:
    """The ids of `object_type` a retry re-does (None: every object the criteria select)."""
    ids = request.only_ids(object_type)
    return None if ids is None else [int(i) for i in ids if i.isdigit()]


# the query of a job's due objects: (conn, at, criteria, after id, limit, retried ids) -> ids
Due = Callable[
    [asyncpg.Connection, datetime, tuple[str, list[object]], int, int, list[int] | None],
    Awaitable[list[int]],
]


async def each_due(
    ctx: JobContext,
    request: RunRequest,
    items: Items,
    object_type: str,
    due: Due,
    one: Callable[[ItemRef], Awaitable[None]],
) -> None:
    """Call `one` for each object of `object_type` due as of the run's "process now" that the
    criteria (or a retry) select, by id in chunks of CHUNK; each chunk is announced to `items`
    first. Returns when none is left, or at an object's boundary once the process stops."""
    at = request.process_now
    selected, retried = where(request), only(request, object_type)
    after = 0
    while not ctx.stop():
        async with ctx.pool.acquire() as conn:
            ids = await due(conn, at, selected, after, CHUNK, retried)
        if not ids:
            return
        await items.add_total(len(ids))
        for object_id in ids:
            if ctx.stop():
                return
            after = object_id
            await one(ItemRef(object_type, str(object_id)))
