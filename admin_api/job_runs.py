"""Runs of jobs as people see and ask for them: the history with its failed items, "run now"
and "retry".

A run asked for here is a `job_runs` row queued through PgQueuer (`tarif_jobs.queue`) in the
transaction that inserts it; the batch's workers run it. Run now acts as of now, or as of a
chosen "process now" time outside production. A retry acts as of its run's time, with its
criteria, and re-does only the failed items no retry has taken yet (or, for a run that failed
as a whole without failed items, the run). Both are idempotent by an optional request id, kept
in the request's audit record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import asyncpg

from admin_api import audit
from admin_api.auth import Principal
from admin_api.job_bodies import RetryNew, RunNow, in_utc
from admin_api.paging import MAX_ID, Keyset, Listed, Paging, Select
from tarif_common.errors import Conflict, InvalidRequest, NotFound
from tarif_jobs.queue import enqueue_run
from tarif_postgres import queries

Q = queries.load("jobs_api")

RUNS = Keyset("job-runs", "id", MAX_ID)  # newest first
ITEMS = Keyset("job-run-items", ("object_type", "object_id"), ("", ""))
STATUSES = ("queued", "running", "succeeded", "failed")


@dataclass(frozen=True)
class RunFilters:
    job_id: int | None = None
    job_type: str | None = None
    status: str | None = None
    since: datetime | None = None  # queued at or after
    until: datetime | None = None  # queued before


def _aware(filters: RunFilters) -> RunFilters:
    since = in_utc(filters.since, "query.from")
    return replace(filters, since=since, until=in_utc(filters.until, "query.to"))


def _answer(row: Mapping[str, Any]) -> dict[str, Any]:
    run = dict(row)
    run["progress"] = {"done": row["succeeded"] + row["failed"], "total": row["total"]}
    return run


async def get_run(conn: asyncpg.Connection, run_id: int) -> dict[str, Any]:
    row = await conn.fetchrow(queries.compose(Q.runs_query, where="r.id = $1", limit="1"), run_id)
    if row is None:
        raise NotFound(f"no job run {run_id}")
    return _answer(row)


async def list_runs(conn: asyncpg.Connection, page: Paging, filters: RunFilters) -> Listed:
    """The history, newest first; `since` and `until` bound the queued time half-open."""
    f = filters = _aware(filters)
    if f.since is not None and f.until is not None and f.until <= f.since:
        raise InvalidRequest("query.to", "must be after from")
    select = Select()
    for column, value in (("job_id", f.job_id), ("job_type", f.job_type), ("status", f.status)):
        if value is not None:
            select.where(f"r.{column} = {{}}", value)
    if f.since is not None:
        select.where("r.queued_at >= {}", f.since)
    if f.until is not None:
        select.where("r.queued_at < {}", f.until)
    select.where("r.id < {}", RUNS.after(page))
    query = queries.compose(Q.runs_query, where=select.where_sql(), limit=f"{page.limit:d}")
    items, cursor = RUNS.page(await conn.fetch(query, *select.params), page)
    return [_answer(item) for item in items], cursor


async def list_items(conn: asyncpg.Connection, run_id: int, page: Paging) -> Listed:
    """A run's failed items, by object type and id."""
    if not await conn.fetchval(Q.run_exists, run_id):
        raise NotFound(f"no job run {run_id}")
    object_type, object_id = ITEMS.after(page)
    rows = await conn.fetch(Q.run_items_page, run_id, object_type, object_id, page.limit)
    return ITEMS.page(rows, page)


async def _replayed(
    conn: asyncpg.Connection, object_type: str, object_id: int, action: str, request_id: str | None
) -> dict[str, Any] | None:
    """The run a request id made before (answered again), or None."""
    if request_id is None:
        return None
    run_id = await conn.fetchval(
        Q.request_answered, object_type, str(object_id), action, request_id
    )
    if run_id is None:
        return None
    return await get_run(conn, run_id) | {"replayed": True}


async def _queue(conn: asyncpg.Connection, *values: Any) -> int:
    """Insert a run (`insert_run`'s values) and queue it, in the caller's transaction."""
    run_id: int = await conn.fetchval(Q.insert_run, *values)
    await enqueue_run(conn, run_id)
    return run_id


async def run_now(
    conn: asyncpg.Connection, who: Principal, job_id: int, body: RunNow, now: datetime
) -> dict[str, Any]:
    """A manual run of the job, queued (a paused or finished job too), as of `process_now`
    (default `now`); the caller checks it with `tarif_jobs.process_now` first."""
    process_now = in_utc(body.process_now, "body.process_now") or now
    async with conn.transaction():
        job = await conn.fetchrow(Q.job_for_update, job_id)  # one request of a job at a time
        if job is None:
            raise NotFound(f"no job {job_id}")
        if kept := await _replayed(conn, "job", job_id, "job.run", body.request_id):
            return kept
        run_id = await _queue(
            conn, job_id, job["job_type"], job["name"], "manual", process_now, job["criteria"],
            None, who.actor,
        )  # fmt: skip
        answer = await get_run(conn, run_id)
        await audit.record(
            conn, who, "job.run", "job", str(job_id), None,
            {"run_id": run_id, "request_id": body.request_id, "process_now": process_now},
        )  # fmt: skip
    return answer | {"replayed": False}


async def retry(
    conn: asyncpg.Connection, who: Principal, run_id: int, body: RetryNew
) -> dict[str, Any]:
    """A retry of a finished run that failed: 409 while it or a retry of it is queued or
    running, and when nothing is left to retry."""
    async with conn.transaction():
        run = await conn.fetchrow(Q.run_for_update, run_id)
        if run is None:
            raise NotFound(f"no job run {run_id}")
        if kept := await _replayed(conn, "job_run", run_id, "job_run.retry", body.request_id):
            return kept
        if run["status"] in ("queued", "running"):
            raise Conflict(f"run {run_id} is still {run['status']}: retry it once it finished")
        state = await conn.fetchrow(Q.retry_state, run_id)
        if state["pending_retry"] is not None:
            raise Conflict(
                f"run {state['pending_retry']}, a retry of run {run_id}, is not done yet"
            )
        if state["items_left"] == 0:
            _nothing_left(run_id, run["status"], state)
        new_id = await _queue(
            conn, run["job_id"], run["job_type"], run["job_name"], "retry", run["process_now"],
            run["criteria"], run_id, who.actor,
        )  # fmt: skip
        answer = await get_run(conn, new_id)
        await audit.record(
            conn, who, "job_run.retry", "job_run", str(run_id), None,
            {"run_id": new_id, "request_id": body.request_id},
        )  # fmt: skip
    return answer | {"replayed": False}


def _nothing_left(run_id: int, status: str, state: Mapping[str, Any]) -> None:
    """Raise unless a run with no failed item left to retry failed as a whole and was not
    retried with success (then the retry runs it again)."""
    if state["items"]:
        raise Conflict(
            f"nothing to retry: every failed item of run {run_id} was taken by a retry"
            " already (retry that run instead)"
        )
    if status != "failed":
        raise Conflict(f"nothing to retry: run {run_id} {status} with no failed item")
    if state["succeeded_retry"] is not None:
        raise Conflict(
            f"nothing to retry: run {state['succeeded_retry']} retried run {run_id} with success"
        )
