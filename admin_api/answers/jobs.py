"""Answers about operations jobs: jobs and their schedules, runs and their failed items,
alerts and the activity log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from admin_api.answers.base import Answer, free_form


class JobSchedule(Answer):
    """When the job runs: `once` at `start_at`; `every` `every_n` `every_unit` from `start_at`
    (days and longer keep the wall-clock time in `time_zone`); `chained` after each successful
    run of the job `parent`."""

    kind: str
    start_at: datetime | None
    every_n: int | None
    every_unit: str | None
    time_zone: str
    parent: int | None
    parent_name: str | None


class LastRun(Answer):
    id: int
    status: str
    queued_at: datetime
    finished_at: datetime | None


class Job(Answer):
    """A job: its type, schedule and criteria. `status`: `active`, `paused`, or `finished` (no
    run left, or a one-off that ran)."""

    id: int
    job_type: str
    name: str
    description: str
    schedule: JobSchedule
    runs_left: int = Field(description="-1: endless")
    active: bool
    status: str
    criteria: dict[str, Any] = free_form("what the job touches, as its type defines it")
    next_run_at: datetime | None = Field(description="none: chained, paused or finished")
    last_run: LastRun | None
    created_at: datetime
    updated_at: datetime


class Progress(Answer):
    done: int = Field(description="items processed so far, failed ones included")
    total: int = Field(description="items the run announced")


class JobRun(Answer):
    """One run of a job. `trigger`: `schedule`, `manual` (run now), `chain` (after its parent's
    run) or `retry` (of `retry_of`). `status`: `queued`, `running`, `succeeded` or `failed`."""

    id: int
    job_id: int | None = Field(description="none once the job was deleted")
    job_type: str
    job_name: str
    trigger: str
    process_now: datetime = Field(description='the time the run acts as of ("process now")')
    criteria: dict[str, Any] = free_form("the job's criteria when the run was made")
    retry_of: int | None
    parent_run_id: int | None
    status: str
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None = Field(description="started to finished (to now while running)")
    total: int
    succeeded: int
    failed: int
    progress: Progress
    attempts: int
    worker: str | None
    error: str | None = Field(description="why the run as a whole failed")
    requested_by: str
    items_to_retry: int = Field(description="failed items no retry has taken yet")
    replayed: bool | None = Field(
        default=None, description="run now, retry: this request id made the run before"
    )


class JobRunItem(Answer):
    """A failed item of a run: the object, the full error and its likely cause."""

    run_id: int
    object_type: str
    object_id: str
    error: str
    cause: str
    failed_at: datetime
    retried_by: int | None = Field(description="the retry run that took it again")


class Alert(Answer):
    """Raised for operators by a failure; one open alert per key counts its `occurrences`."""

    id: int
    alert_key: str
    status: str = Field(description="`open` or `acknowledged`")
    severity: str
    process: str
    object_type: str | None
    object_id: str | None
    cause: str
    message: str
    run_id: int | None
    occurrences: int
    raised_at: datetime
    last_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class ActivityEntry(Answer):
    """What happened: the process, the object and the likely cause."""

    id: int
    at: datetime
    level: str
    process: str
    object_type: str | None
    object_id: str | None
    cause: str
    message: str
    run_id: int | None
