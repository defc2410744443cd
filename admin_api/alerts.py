"""What operators must see (seed 004): alerts, open until someone acknowledges them, and the
activity log that names the process, the object and the likely cause of each failure. Both are
written by the failing code (`tarif_jobs.failures`); here they are read and acknowledged."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import asyncpg

from admin_api import audit
from admin_api.auth import Principal
from admin_api.job_bodies import in_utc
from admin_api.paging import MAX_ID, Keyset, Listed, Paging
from tarif_common.errors import InvalidRequest, NotFound
from tarif_postgres import queries

Q = queries.load("jobs_api")

ALERTS = Keyset("alerts", "id", MAX_ID)  # newest first
LOG = Keyset("activity-log", "id", MAX_ID)  # newest first
ALERT_STATUSES = ("open", "acknowledged")
SEVERITIES = ("warning", "critical")
LEVELS = ("info", "warning", "error")


def _alert(row: Mapping[str, Any]) -> dict[str, Any]:
    status = "open" if row["acknowledged_at"] is None else "acknowledged"
    return dict(row) | {"status": status}


async def list_alerts(
    conn: asyncpg.Connection,
    page: Paging,
    *,
    status: str | None = None,
    severity: str | None = None,
    process: str | None = None,
) -> Listed:
    """Alerts, newest first; `status` open or acknowledged."""
    acknowledged = None if status is None else status == "acknowledged"
    rows = await conn.fetch(
        Q.alerts_page, acknowledged, severity, process, ALERTS.after(page), page.limit
    )
    items, cursor = ALERTS.page(rows, page)
    return [_alert(item) for item in items], cursor


async def acknowledge(conn: asyncpg.Connection, who: Principal, alert_id: int) -> dict[str, Any]:
    """Acknowledge an open alert (who and when); one acknowledged before is answered as it is.
    The next failure with the same key raises a new alert."""
    async with conn.transaction():
        row = await conn.fetchrow(Q.acknowledge_alert, alert_id, who.actor)
        if row is None:
            before = await conn.fetchrow(Q.alert_by_id, alert_id)
            if before is None:
                raise NotFound(f"no alert {alert_id}")
            return _alert(before)
        answer = _alert(row)
        change = {k: answer[k] for k in ("status", "acknowledged_at", "acknowledged_by")}
        await audit.record(conn, who, "alert.acknowledge", "alert", str(alert_id), None, change)
    return answer


@dataclass(frozen=True)
class ActivityFilters:
    process: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    level: str | None = None
    run_id: int | None = None
    since: datetime | None = None  # at or after
    until: datetime | None = None  # before


def _aware(filters: ActivityFilters) -> ActivityFilters:
    since = in_utc(filters.since, "query.from")
    return replace(filters, since=since, until=in_utc(filters.until, "query.to"))


async def activity(conn: asyncpg.Connection, page: Paging, filters: ActivityFilters) -> Listed:
    """The activity log, newest first; `since` and `until` bound `at` half-open."""
    f = filters = _aware(filters)
    if f.since is not None and f.until is not None and f.until <= f.since:
        raise InvalidRequest("query.to", "must be after from")
    rows = await conn.fetch(
        Q.activity_page, f.process, f.object_type, f.object_id, f.level, f.since, f.until,
        f.run_id, LOG.after(page), page.limit,
    )  # fmt: skip
    return LOG.page(rows, page)
