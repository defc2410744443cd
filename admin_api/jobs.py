"""Operations jobs as people manage them: create, list, edit, pause, resume, delete.

A job's next run is computed here from its schedule (`tarif_jobs.schedule`) whenever the
schedule, `active` or `runs_left` changes; the batch's scheduler takes it from there. From now:
a repeating job whose start has passed starts at its next occurrence, and one resumed after a
pause takes its first due time after now (the times it missed while paused are not made up: no
storm). A one-off job must start in the future; resumed after its time had passed, it runs at
once if it never ran. Criteria are checked against the job type's model
(`tarif_jobs.kinds`), and the customer types and custom attributes they name must exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import ValidationError

from admin_api import audit
from admin_api.auth import Principal
from admin_api.job_bodies import JobNew, JobPatch, ScheduleIn, in_utc
from admin_api.paging import (
    Listed,
    Listing,
    Order,
    Select,
    SortField,
    id_value,
    next_cursor,
    order,
    text_value,
)
from admin_api.schemas import check_attribute
from tarif_common.errors import Conflict, Duplicate, InvalidRequest, NotFound
from tarif_jobs import chains
from tarif_jobs.kinds import criteria_model
from tarif_jobs.schedule import Schedule, next_after, occurrence
from tarif_postgres import queries

Q = queries.load("jobs_api")
# a listing's status filter: the condition each status stands for
STATUS_CONDITIONS = {
    "active": Q.job_status_active,
    "paused": Q.job_status_paused,
    "finished": Q.job_status_finished,
}

STATUSES = ("active", "paused", "finished")
# a job without a next run sorts last by next run
_NO_RUN = "'9999-12-31T00:00:00Z'::timestamptz"
SORTS = {
    "id": SortField("j.id", id_value),
    "name": SortField("j.name", text_value),
    "next_run_at": SortField(
        f"coalesce(j.next_run_at, {_NO_RUN})",
        lambda v: in_utc(datetime.fromisoformat(text_value(v)), "cursor"),
        lambda v: v.isoformat(),
    ),
}


# -- schedules -------------------------------------------------------------------------------


def schedule_of(given: ScheduleIn) -> Schedule:
    """The schedule a request gives, its parts checked together (each wrong one named)."""
    where = "body.schedule"
    if given.kind == "chained":
        if given.parent is None:
            raise InvalidRequest(f"{where}.parent", "a chained job needs the job it runs after")
        for name in ("start_at", "every_n", "every_unit"):
            if getattr(given, name) is not None:
                raise InvalidRequest(
                    f"{where}.{name}", "a chained job has no times of its own: it runs after its"
                    " parent"
                )  # fmt: skip
        return Schedule("chained", time_zone=given.time_zone)
    if given.parent is not None:
        raise InvalidRequest(f"{where}.parent", "only a chained job runs after another")
    if given.start_at is None:
        raise InvalidRequest(f"{where}.start_at", f"is required for a job that runs {given.kind}")
    if given.kind == "every":
        for name in ("every_n", "every_unit"):
            if getattr(given, name) is None:
                raise InvalidRequest(f"{where}.{name}", "is required for a repeating job")
    else:
        for name in ("every_n", "every_unit"):
            if getattr(given, name) is not None:
                raise InvalidRequest(f"{where}.{name}", "a one-off job does not repeat")
    return Schedule(given.kind, given.start_at, given.every_n, given.every_unit, given.time_zone)


def stored_schedule(row: Mapping[str, Any]) -> Schedule:
    return Schedule(
        row["schedule_kind"],
        row["start_at"],
        row["every_n"],
        row["every_unit"],
        row["time_zone"],
    )


def next_run(
    schedule: Schedule, now: datetime, *, given: bool, ran: bool = False
) -> datetime | None:
    """When a job with `schedule` runs next, from `now` (None: chained, or a one-off done).

    `given`: the schedule was just set (create, or an edit of it), so a one-off job in the past
    is refused. Otherwise (resume, runs added) a one-off whose time passed runs now unless it
    `ran` on schedule already, and a repeating job takes its first due time after now."""
    if schedule.kind == "chained":
        return None
    try:
        start = occurrence(schedule, 0)
        if start >= now:
            return start
        if schedule.kind == "once":
            if given:
                raise InvalidRequest(
                    "body.schedule.start_at",
                    f"a one-off job must start in the future ({start.isoformat()} has passed)",
                )
            return None if ran else now
        return next_after(schedule, now)
    except (OverflowError, ValueError):  # past the year 9999 (or before the year 1)
        raise InvalidRequest(
            "body.schedule", "its next run falls outside the years 1 to 9999"
        ) from None


def _due(
    schedule: Schedule, active: bool, runs_left: int, now: datetime, *, given: bool, ran: bool
) -> datetime | None:
    due = next_run(schedule, now, given=given, ran=ran)  # checked even when it will not run
    return due if active and runs_left != 0 else None


# -- criteria --------------------------------------------------------------------------------


async def checked_criteria(
    conn: asyncpg.Connection, job_type: str, criteria: Mapping[str, Any]
) -> dict[str, Any]:
    """The criteria as stored (defaults left out), valid for `job_type`: 422 naming the field
    for what the type's model refuses, an unknown customer type or an undeclared attribute."""
    try:
        valid = criteria_model(job_type).model_validate(criteria)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in ("body", "criteria", *first["loc"]))
        raise InvalidRequest(where, first["msg"]) from None
    types = list(getattr(valid, "customer_types", None) or [])
    if types:
        known = {row["name"] for row in await conn.fetch(Q.known_customer_types, types)}
        for i, name in enumerate(types):
            if name not in known:
                raise InvalidRequest(
                    f"body.criteria.customer_types.{i}", f"unknown customer type {name!r}"
                )
    attributes: dict[str, Any] = dict(getattr(valid, "attributes", None) or {})
    if attributes:
        rows = await conn.fetch(Q.declared_attributes, list(attributes))
        declared = {row["name"]: row["type"] for row in rows}
        for name, value in attributes.items():
            where = f"body.criteria.attributes.{name}"
            if name not in declared:
                raise InvalidRequest(where, "is not a declared custom attribute")
            if reason := check_attribute(name, declared[name], value):
                raise InvalidRequest(where, reason)
    stored: dict[str, Any] = valid.model_dump(mode="json", exclude_defaults=True)
    return stored


# -- reading ---------------------------------------------------------------------------------


def _answer(row: Mapping[str, Any]) -> dict[str, Any]:
    last = None
    if row["last_run_id"] is not None:
        last = {
            "id": row["last_run_id"],
            "status": row["last_run_status"],
            "queued_at": row["last_run_queued_at"],
            "finished_at": row["last_run_finished_at"],
        }
    return {
        "id": row["id"],
        "job_type": row["job_type"],
        "name": row["name"],
        "description": row["description"],
        "schedule": {
            "kind": row["schedule_kind"],
            "start_at": row["start_at"],
            "every_n": row["every_n"],
            "every_unit": row["every_unit"],
            "time_zone": row["time_zone"],
            "parent": row["parent_id"],
            "parent_name": row["parent_name"],
        },
        "runs_left": row["runs_left"],
        "active": row["active"],
        "status": row["status"],
        "criteria": row["criteria"],
        "next_run_at": row["next_run_at"],
        "last_run": last,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


async def get(conn: asyncpg.Connection, job_id: int) -> dict[str, Any]:
    query = queries.compose(
        Q.jobs_query, where="j.id = $1", order="j.id", sort_key="j.id", limit="1"
    )
    row = await conn.fetchrow(query, job_id)
    if row is None:
        raise NotFound(f"no job {job_id}")
    return _answer(row)


async def list_jobs(
    conn: asyncpg.Connection, listing: Listing, filters: Mapping[str, str | None]
) -> Listed:
    """Jobs filtered by `status`, `job_type` and `name` (a part of it, any case)."""
    select = Select()
    if status := filters.get("status"):
        select.where(STATUS_CONDITIONS[status])  # STATUSES: checked by the route
    if job_type := filters.get("job_type"):
        select.where("j.job_type = {}", job_type)
    if name := filters.get("name"):
        select.where("strpos(lower(j.name), {}) > 0", name.lower())
    chosen: Order = order(select, listing, SORTS, "id", "j.id")
    query = queries.compose(
        Q.jobs_query,
        where=select.where_sql(),
        order=chosen.sql,
        sort_key=chosen.expression,
        limit=f"{listing.limit:d}",
    )
    rows = await conn.fetch(query, *select.params)
    cursor = next_cursor(rows, listing.limit, chosen, "id")
    return [_answer(row) for row in rows], cursor


# -- changes ---------------------------------------------------------------------------------


async def _name_free(conn: asyncpg.Connection, name: str) -> None:
    if await conn.fetchval(Q.job_named, name) is not None:
        raise Duplicate(f"a job named {name!r} exists already", constraint="jobs_name_key")


async def _locked(conn: asyncpg.Connection, job_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(Q.job_for_update, job_id)
    if row is None:
        raise NotFound(f"no job {job_id}")
    return row


async def _store(conn: asyncpg.Connection, job_id: int, fields: Mapping[str, Any]) -> None:
    s: Schedule = fields["schedule"]
    await conn.execute(
        Q.update_job,
        job_id,
        fields["name"],
        fields["description"],
        s.kind,
        s.start_at,
        s.every_n,
        s.every_unit,
        s.time_zone,
        fields["parent_id"],
        fields["runs_left"],
        fields["active"],
        fields["criteria"],
        fields["next_run_at"],
    )


async def create(
    conn: asyncpg.Connection, who: Principal, body: JobNew, now: datetime
) -> dict[str, Any]:
    """A new job (201); 422 for bad input, 409 for a name in use: nothing written."""
    schedule = schedule_of(body.schedule)
    if body.runs_left == 0:
        raise InvalidRequest("body.runs_left", "must be -1 (endless) or at least 1")
    due = _due(schedule, body.active, body.runs_left, now, given=True, ran=False)
    async with conn.transaction():
        criteria = await checked_criteria(conn, body.job_type, body.criteria)
        if body.schedule.parent is not None:
            await chains.lock(conn)
            await chains.check_parent(conn, None, body.schedule.parent)
        await _name_free(conn, body.name)
        job_id: int = await conn.fetchval(
            Q.insert_job,
            body.job_type,
            body.name,
            body.description,
            schedule.kind,
            schedule.start_at,
            schedule.every_n,
            schedule.every_unit,
            schedule.time_zone,
            body.schedule.parent,
            body.runs_left,
            body.active,
            criteria,
            due,
        )
        answer = await get(conn, job_id)
        await audit.record(conn, who, "job.create", "job", str(job_id), None, answer)
    return answer


async def update(
    conn: asyncpg.Connection, who: Principal, job_id: int, patch: JobPatch, now: datetime
) -> dict[str, Any]:
    """Change what the patch gives; the next run is computed again when the schedule,
    `active` or `runs_left` changed. 404, 409 (name in use, a loop) or 422: nothing written."""
    given = patch.model_dump(exclude_unset=True)
    for name, value in given.items():
        if value is None:
            raise InvalidRequest(f"body.{name}", "must not be null (leave it out to keep it)")
    async with conn.transaction():
        row = await _locked(conn, job_id)
        before = await get(conn, job_id)
        fields: dict[str, Any] = {
            "name": row["name"],
            "description": row["description"],
            "schedule": stored_schedule(row),
            "parent_id": row["parent_id"],
            "runs_left": row["runs_left"],
            "active": row["active"],
            "criteria": row["criteria"],
            "next_run_at": row["next_run_at"],
        }
        new_schedule = False
        if patch.schedule is not None:
            schedule = schedule_of(patch.schedule)
            if (schedule, patch.schedule.parent) != (fields["schedule"], fields["parent_id"]):
                new_schedule = True
                fields["schedule"], fields["parent_id"] = schedule, patch.schedule.parent
                if patch.schedule.parent is not None:
                    await chains.lock(conn)
                    await chains.check_parent(conn, job_id, patch.schedule.parent)
        if patch.criteria is not None:
            fields["criteria"] = await checked_criteria(conn, row["job_type"], patch.criteria)
        if patch.name is not None and patch.name != row["name"]:
            await _name_free(conn, patch.name)
            fields["name"] = patch.name
        if patch.description is not None:
            fields["description"] = patch.description
        if patch.runs_left is not None:
            fields["runs_left"] = patch.runs_left
        if patch.active is not None:
            fields["active"] = patch.active
        if new_schedule or (fields["active"], fields["runs_left"]) != (
            row["active"],
            row["runs_left"],
        ):
            fields["next_run_at"] = await _due_again(conn, job_id, fields, now, new_schedule)
        await _store(conn, job_id, fields)
        after = await get(conn, job_id)
        if after != before:
            await audit.record(conn, who, "job.update", "job", str(job_id), before, after)
    return after


async def _due_again(
    conn: asyncpg.Connection, job_id: int, fields: Mapping[str, Any], now: datetime, given: bool
) -> datetime | None:
    schedule: Schedule = fields["schedule"]
    ran = False
    if schedule.kind == "once" and not given:
        ran = bool(await conn.fetchval(Q.ran_on_schedule, job_id))
    return _due(schedule, fields["active"], fields["runs_left"], now, given=given, ran=ran)


async def set_active(
    conn: asyncpg.Connection, who: Principal, job_id: int, active: bool, now: datetime
) -> dict[str, Any]:
    """Pause (no next run) or resume (the next run computed from now); a job already so is
    answered as it is."""
    async with conn.transaction():
        row = await _locked(conn, job_id)
        before = await get(conn, job_id)
        if row["active"] == active:
            return before
        fields = {
            "name": row["name"],
            "description": row["description"],
            "schedule": stored_schedule(row),
            "parent_id": row["parent_id"],
            "runs_left": row["runs_left"],
            "active": active,
            "criteria": row["criteria"],
            "next_run_at": None,
        }
        if active:
            fields["next_run_at"] = await _due_again(conn, job_id, fields, now, False)
        await _store(conn, job_id, fields)
        after = await get(conn, job_id)
        action = "job.resume" if active else "job.pause"
        await audit.record(conn, who, action, "job", str(job_id), before, after)
    return after


async def delete(conn: asyncpg.Connection, who: Principal, job_id: int) -> None:
    """Delete a job (its runs stay in the history); 409 while jobs are chained after it."""
    async with conn.transaction():
        await _locked(conn, job_id)
        before = await get(conn, job_id)
        children = await conn.fetch(Q.chained_after, job_id)
        if children:
            named = ", ".join(f"{row['id']} ({row['name']})" for row in children)
            raise Conflict(
                f"jobs are chained after job {job_id}: {named}; delete them or chain them"
                " after another job first"
            )
        await conn.execute(Q.delete_job, job_id)
        await audit.record(conn, who, "job.delete", "job", str(job_id), before, None)
