"""Notification deliveries for operators: the list (dead ones first of interest), and dead ones
put back to pending so the notifier sends them again (one at a time, or in bulk by filters).

A re-sent delivery is due at once; the notifier claims it as any pending one and gives it one
more attempt (its attempt count goes on, so the history of attempts stays whole): if that fails
too it is dead again, with a new activity-log entry and alert, and may be re-sent again. A
self-care mail is never re-sent: its one-time token is forgotten once it is dead (ask for a
new one). Every re-send is an audit record and an activity-log entry.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from admin_api import audit
from admin_api.auth import Principal
from admin_api.paging import MAX_ID, Keyset, Listed, Paging
from tarif_common.errors import Conflict, NotFound
from tarif_postgres import queries

Q = queries.load("reports")
JOBS = queries.load("jobs")

DELIVERIES = Keyset("notification-deliveries", "id", MAX_ID)  # newest first
BULK_LIMIT = 10_000


async def list_deliveries(
    conn: asyncpg.Connection, page: Paging, *, status: str | None, channel: str | None
) -> Listed:
    rows = await conn.fetch(Q.deliveries_page, status, channel, DELIVERIES.after(page), page.limit)
    return DELIVERIES.page(rows, page)


async def resend(conn: asyncpg.Connection, who: Principal, delivery_id: int) -> dict[str, Any]:
    """Put one dead delivery back to pending; 404 unknown, 409 not dead or a self-care mail."""
    async with conn.transaction():
        row = await conn.fetchrow(Q.delivery_by_id, delivery_id)
        if row is None:
            raise NotFound(f"no notification delivery {delivery_id}")
        if row["notification_id"] is None:
            raise Conflict(
                f"delivery {delivery_id} is a self-care mail: its token is gone, ask for a new one"
            )
        if row["status"] != "dead":
            raise Conflict(f"delivery {delivery_id} is {row['status']}, not dead")
        await conn.fetch(Q.resend_deliveries, [delivery_id], None, None, None, 1)
        await _activity(conn, who, [delivery_id])
        await audit.record(
            conn, who, "notification_delivery.resend", "notification_delivery",
            str(delivery_id), {"status": "dead"}, {"status": "pending"},
        )  # fmt: skip
        after = await conn.fetchrow(Q.delivery_by_id, delivery_id)
    return dict(after)


async def resend_many(
    conn: asyncpg.Connection,
    who: Principal,
    *,
    ids: list[int] | None,
    channel: str | None,
    recipient: str | None,
    error_contains: str | None,
    limit: int,
) -> list[int]:
    """Put the dead deliveries the filters select (at most `limit`) back to pending; the ids."""
    async with conn.transaction():
        rows = await conn.fetch(
            Q.resend_deliveries, ids, channel, recipient, error_contains, min(limit, BULK_LIMIT)
        )
        resent = sorted(r["id"] for r in rows)
        await _activity(conn, who, resent)
        filters = {"ids": ids, "channel": channel, "recipient": recipient,
                   "error_contains": error_contains, "limit": limit}  # fmt: skip
        await audit.record(
            conn, who, "notification_delivery.resend_bulk", "notification_delivery", "bulk",
            filters, {"resent": resent},
        )  # fmt: skip
    return resent


async def _activity(conn: asyncpg.Connection, who: Principal, ids: list[int]) -> None:
    """One activity-log entry per delivery put back (the object's history shows it)."""
    await conn.executemany(
        JOBS.insert_activity,
        [
            ("info", "notifier.resend", "notification_delivery", str(i), "",
             f"dead delivery {i} put back to pending by {who.actor}", None)
            for i in ids
        ],
    )  # fmt: skip
