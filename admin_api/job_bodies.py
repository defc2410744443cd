"""Request bodies of the jobs endpoints. What one field can say is checked here; what needs
several fields or the database (a schedule's parts, criteria against the job type, customer
types and attributes, chains) is checked in `admin_api.jobs`, naming the field too."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, Field, field_validator

from admin_api.schemas import Identifier, Strict, TimeZone
from tarif_common.errors import InvalidRequest
from tarif_jobs.kinds import JOB_TYPES

JobName = Annotated[str, Field(min_length=1, max_length=100)]
Description = Annotated[str, Field(max_length=1000)]
RunsLeft = Annotated[int, Field(ge=-1, le=2**31 - 1, description="-1: endless")]
JobId = Annotated[int, Field(ge=1, le=2**62)]


class ScheduleIn(Strict):
    """`once` at `start_at`; `every` `every_n` `every_unit` from `start_at`; `chained` after
    each successful run of the job `parent` (no times of its own)."""

    kind: Literal["once", "every", "chained"]
    start_at: AwareDatetime | None = None
    every_n: Annotated[int, Field(ge=1, le=100_000)] | None = None
    every_unit: Literal["minutes", "hours", "days", "weeks", "months", "years"] | None = None
    time_zone: TimeZone = "UTC"
    parent: JobId | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name, e.g. Europe/Paris)"
            ) from None
        return value


class JobNew(Strict):
    job_type: str = Field(description=f"one of: {', '.join(JOB_TYPES)}")
    name: JobName = Field(description="unique")
    description: Description = ""
    schedule: ScheduleIn
    runs_left: RunsLeft = -1
    active: bool = True
    criteria: dict[str, Any] = Field(
        default_factory=dict,
        description="what the job touches: customer_types, customer_ids, groups, attributes,"
        " payment_type (financial reporting and export: their own)",
    )

    @field_validator("job_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in JOB_TYPES:
            raise ValueError(f"unknown job type {value!r} (one of: {', '.join(JOB_TYPES)})")
        return value


class JobPatch(Strict):
    """Any of these; a new `schedule` replaces the old whole and the next run is computed again
    (so does a change of `active` or `runs_left`). The type of a job does not change."""

    name: JobName | None = None
    description: Description | None = None
    schedule: ScheduleIn | None = None
    runs_left: RunsLeft | None = None
    active: bool | None = None
    criteria: dict[str, Any] | None = Field(
        default=None, description="replaces the criteria, checked against the job's type"
    )


class RunNow(Strict):
    process_now: AwareDatetime | None = Field(
        default=None,
        description='the time the run acts as of ("process now"); default now. Refused (403)'
        " in a production deployment",
    )
    request_id: Identifier | None = Field(
        default=None, description="idempotency key: a repeat answers the run it made"
    )


class RetryNew(Strict):
    request_id: Identifier | None = Field(
        default=None, description="idempotency key: a repeat answers the retry it made"
    )


def in_utc(moment: datetime | None, field: str) -> datetime | None:
    """A bound of a listed period in UTC (one without a zone is read as UTC); 422 for a time
    Postgres cannot hold once in UTC (the year 1 east of Greenwich, 9999 west of it)."""
    if moment is None:
        return None
    try:
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError:
        raise InvalidRequest(field, "is out of range (years 1 to 9999 in UTC)") from None
