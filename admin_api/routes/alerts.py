"""/v1/alerts and /v1/activity-log: what went wrong, for operators.

Roles: every read is open to auditors; operators (and admins) acknowledge alerts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Query

from admin_api import alerts
from admin_api.answers.jobs import ActivityEntry, Alert
from admin_api.auth import Operator, Reader
from admin_api.paging import Page, Paging, paging
from admin_api.routes.answering import router as new_router
from admin_api.routes.deps import Pool

router = new_router(tags=["alerts"])

Paged = Annotated[Paging, Depends(paging)]
Process = Annotated[str | None, Query(max_length=100, description="e.g. billing, email.invoice")]


def _one_of(values: tuple[str, ...]) -> str:
    return f"^({'|'.join(values)})$"


@router.get("/v1/alerts", response_model=Page[Alert], summary="Alerts, newest first")
async def list_alerts(
    _: Reader,
    pool: Pool,
    page: Paged,
    status: Annotated[str | None, Query(pattern=_one_of(alerts.ALERT_STATUSES))] = None,
    severity: Annotated[str | None, Query(pattern=_one_of(alerts.SEVERITIES))] = None,
    process: Process = None,
) -> dict[str, Any]:
    """`status`: open (not acknowledged yet) or acknowledged."""
    async with pool.acquire() as conn:
        items, cursor = await alerts.list_alerts(
            conn, page, status=status, severity=severity, process=process
        )
    return {"items": items, "next_cursor": cursor}


@router.post(
    "/v1/alerts/{alert_id}/acknowledge", response_model=Alert, summary="Acknowledge an alert"
)
async def acknowledge_alert(
    who: Operator, pool: Pool, alert_id: Annotated[int, Path(ge=1, le=2**62)]
) -> dict[str, Any]:
    """Records who and when; an alert acknowledged before is answered as it is."""
    async with pool.acquire() as conn:
        return await alerts.acknowledge(conn, who, alert_id)


@router.get(
    "/v1/activity-log",
    response_model=Page[ActivityEntry],
    summary="What happened, newest first: the process, the object and the likely cause",
)
async def activity_log(
    _: Reader,
    pool: Pool,
    page: Paged,
    process: Process = None,
    object_type: Annotated[str | None, Query(max_length=64)] = None,
    object_id: Annotated[str | None, Query(max_length=128)] = None,
    level: Annotated[str | None, Query(pattern=_one_of(alerts.LEVELS))] = None,
    run_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    since: Annotated[datetime | None, Query(alias="from", description="from, inclusive")] = None,
    until: Annotated[datetime | None, Query(alias="to", description="until, exclusive")] = None,
) -> dict[str, Any]:
    """Filters combine; `from` and `to` bound the time half-open, [from, to)."""
    filters = alerts.ActivityFilters(process, object_type, object_id, level, run_id, since, until)
    async with pool.acquire() as conn:
        items, cursor = await alerts.activity(conn, page, filters)
    return {"items": items, "next_cursor": cursor}
