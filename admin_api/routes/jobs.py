"""/v1/jobs and /v1/job-runs: operations jobs, run now, the run history, retry.

Roles: every read is open to auditors; operators (and admins) create, edit, pause, resume and
delete jobs, run them now and retry runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, Response

from admin_api import job_runs, jobs
from admin_api.answers.jobs import Job, JobRun, JobRunItem
from admin_api.auth import Operator, Reader
from admin_api.job_bodies import JobNew, JobPatch, RetryNew, RunNow
from admin_api.paging import Listing, Page, Paging, listing, paging
from admin_api.routes.answering import router as new_router
from admin_api.routes.deps import Pool
from tarif_jobs.process_now import process_now

router = new_router(tags=["jobs"])

Id = Annotated[int, Path(ge=1, le=2**62)]
Paged = Annotated[Paging, Depends(paging)]
Sorted = Annotated[Listing, Depends(listing)]
JobStatus = Annotated[
    str | None,
    Query(pattern=f"^({'|'.join(jobs.STATUSES)})$", description="active, paused, finished"),
]
RunStatus = Annotated[str | None, Query(pattern=f"^({'|'.join(job_runs.STATUSES)})$")]
JobType = Annotated[str | None, Query(max_length=64)]
Since = Annotated[datetime | None, Query(alias="from", description="queued from, inclusive")]
Until = Annotated[datetime | None, Query(alias="to", description="queued until, exclusive")]

QUEUED: dict[int | str, dict[str, Any]] = {
    200: {"model": JobRun, "description": "a repeat of a request id: the run it made before"}
}


def _now() -> datetime:
    return datetime.now(UTC)


@router.get("/v1/jobs", response_model=Page[Job], summary="Jobs with their status and next run")
async def list_jobs(
    _: Reader,
    pool: Pool,
    page: Sorted,
    status: JobStatus = None,
    job_type: JobType = None,
    name: Annotated[str | None, Query(max_length=100, description="a part of the name")] = None,
) -> dict[str, Any]:
    """Sorts: `id` (default), `name`, `next_run_at` (jobs without one last)."""
    filters = {"status": status, "job_type": job_type, "name": name}
    async with pool.acquire() as conn:
        items, cursor = await jobs.list_jobs(conn, page, filters)
    return {"items": items, "next_cursor": cursor}


@router.post("/v1/jobs", status_code=201, response_model=Job, summary="Create a job")
async def create_job(who: Operator, pool: Pool, body: JobNew) -> dict[str, Any]:
    """422 names the bad field (an unknown job type, a one-off in the past, criteria on an
    unknown customer type or attribute, an unknown parent); 409: the name is in use."""
    async with pool.acquire() as conn:
        return await jobs.create(conn, who, body, _now())


@router.get("/v1/jobs/{job_id}", response_model=Job, summary="A job")
async def get_job(_: Reader, pool: Pool, job_id: Id) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await jobs.get(conn, job_id)


@router.patch("/v1/jobs/{job_id}", response_model=Job, summary="Change a job")
async def update_job(who: Operator, pool: Pool, job_id: Id, body: JobPatch) -> dict[str, Any]:
    """The next run is computed again from now when the schedule, `active` or `runs_left`
    changes. 409: the name is in use, or the chain would loop (A after B after A)."""
    async with pool.acquire() as conn:
        return await jobs.update(conn, who, job_id, body, _now())


@router.delete("/v1/jobs/{job_id}", status_code=204, summary="Delete a job")
async def delete_job(who: Operator, pool: Pool, job_id: Id) -> Response:
    """Its runs stay in the history. 409 while other jobs are chained after it."""
    async with pool.acquire() as conn:
        await jobs.delete(conn, who, job_id)
    return Response(status_code=204)


@router.post("/v1/jobs/{job_id}/pause", response_model=Job, summary="Pause a job")
async def pause_job(who: Operator, pool: Pool, job_id: Id) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await jobs.set_active(conn, who, job_id, False, _now())


@router.post("/v1/jobs/{job_id}/resume", response_model=Job, summary="Resume a paused job")
async def resume_job(who: Operator, pool: Pool, job_id: Id) -> dict[str, Any]:
    """The next run is the first due time after now: the runs missed while paused are not
    made up (a one-off whose time passed runs at once if it never ran)."""
    async with pool.acquire() as conn:
        return await jobs.set_active(conn, who, job_id, True, _now())


@router.post(
    "/v1/jobs/{job_id}/runs",
    status_code=202,
    response_model=JobRun,
    responses=QUEUED,
    summary="Run a job now (queued for the batch's workers)",
)
async def run_job(
    who: Operator,
    pool: Pool,
    request: Request,
    response: Response,
    job_id: Id,
    body: RunNow | None = None,
) -> dict[str, Any]:
    """As of now, or as of `process_now` (403 in a production deployment). A repeat of a
    `request_id` answers the run it made (200)."""
    body = body or RunNow()
    now = _now()
    process_now(request.app.state.settings, body.process_now, now)  # production: 403
    async with pool.acquire() as conn:
        answer = await job_runs.run_now(conn, who, job_id, body, now)
    if answer["replayed"]:
        response.status_code = 200
    return answer


@router.get("/v1/job-runs", response_model=Page[JobRun], summary="Run history, newest first")
async def list_runs(
    _: Reader,
    pool: Pool,
    page: Paged,
    job_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    job_type: JobType = None,
    status: RunStatus = None,
    since: Since = None,
    until: Until = None,
) -> dict[str, Any]:
    """Filters combine; `from` and `to` bound the queued time half-open, [from, to)."""
    filters = job_runs.RunFilters(job_id, job_type, status, since, until)
    async with pool.acquire() as conn:
        items, cursor = await job_runs.list_runs(conn, page, filters)
    return {"items": items, "next_cursor": cursor}


@router.get("/v1/job-runs/{run_id}", response_model=JobRun, summary="A run and its progress")
async def get_run(_: Reader, pool: Pool, run_id: Id) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await job_runs.get_run(conn, run_id)


@router.get(
    "/v1/job-runs/{run_id}/items",
    response_model=Page[JobRunItem],
    summary="A run's failed items: the object and the full error",
)
async def list_run_items(_: Reader, pool: Pool, run_id: Id, page: Paged) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await job_runs.list_items(conn, run_id, page)
    return {"items": items, "next_cursor": cursor}


@router.post(
    "/v1/job-runs/{run_id}/retry",
    status_code=202,
    response_model=JobRun,
    responses=QUEUED,
    summary="Retry what a run failed (a new run, queued)",
)
async def retry_run(
    who: Operator, pool: Pool, response: Response, run_id: Id, body: RetryNew | None = None
) -> dict[str, Any]:
    """The new run acts as of the same time with the same criteria and re-does only the failed
    items no retry has taken yet. 409: the run or a retry of it is not done yet, or nothing is
    left to retry. A repeat of a `request_id` answers the retry it made (200)."""
    async with pool.acquire() as conn:
        answer = await job_runs.retry(conn, who, run_id, body or RetryNew())
    if answer["replayed"]:
        response.status_code = 200
    return answer
