"""Chained jobs: a job chained after another gets a run each time that one succeeds, so the jobs
above a job (its parent, the parent's parent, ...) must never lead back to it, or one success
would start runs forever. Whoever sets a job's parent checks it here, under one lock, so two
changes that are each harmless alone (A after B, B after A) cannot both pass."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from tarif_common.errors import Conflict, InvalidRequest
from tarif_postgres import queries

Q = queries.load("job_chains")

# how far up a chain is followed: far deeper than any chain people build, and a bound so a
# loop written into the table by hand still ends
MAX_DEPTH = 1000


class ChainLoop(Conflict):
    """The chain would loop: a job would run after itself."""

    def __init__(self, loop: Sequence[int]) -> None:
        self.loop = list(loop)
        path = " -> ".join(f"job {job}" for job in self.loop)
        super().__init__(f"the chain would loop ({path}): a job cannot run after itself")


def loop_of(job_id: int | None, above_parent: Sequence[int]) -> list[int] | None:
    """The loop that chaining `job_id` after the first job of `above_parent` would close, as
    the jobs in run order (the job first and last), or None. `above_parent` is the parent and
    the jobs it runs after, nearest first; a new job (no id yet) closes no loop."""
    if job_id is None or job_id not in above_parent:
        return None
    upto = above_parent[: above_parent.index(job_id) + 1]
    # in the order the runs would follow each other: the job, the job chained after it, ...,
    # the parent, and the job again
    return [*reversed(upto), job_id]


async def lock(conn: asyncpg.Connection) -> None:
    """Hold the chains until the caller's transaction ends (call before `check_parent`)."""
    await conn.execute(Q.lock_chains)


async def check_parent(conn: asyncpg.Connection, job_id: int | None, parent_id: int) -> None:
    """Refuse chaining `job_id` (None: a job being created) after `parent_id`: InvalidRequest
    for itself or an unknown parent, ChainLoop when a job above the parent is `job_id`."""
    if job_id is not None and parent_id == job_id:
        raise InvalidRequest("body.schedule.parent", "a job cannot be chained after itself")
    above = [row["id"] for row in await conn.fetch(Q.chain_above, parent_id, MAX_DEPTH)]
    if not above:
        raise InvalidRequest("body.schedule.parent", f"no job {parent_id}")
    loop = loop_of(job_id, above)
    if loop is not None:
        raise ChainLoop(loop)
