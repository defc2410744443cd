"""The audit log: who changed what, when, and how it looked before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from admin_api.auth import Principal
from admin_api.paging import MAX_ID, Keyset, Listed, Paging
from tarif_common.errors import InvalidRequest
from tarif_postgres import changes, queries

Q = queries.load("audit")


async def record(
    conn: asyncpg.Connection,
    who: Principal,
    action: str,
    object_type: str,
    object_id: str,
    before: Any = None,
    after: Any = None,
) -> None:
    """Call inside the transaction of the change, so the log and the change land together."""
    await changes.audit(conn, who, action, object_type, object_id, before, after)


LOG = Keyset("audit-log", "id", MAX_ID)  # newest first


async def page(
    conn: asyncpg.Connection,
    paging: Paging,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Listed:
    """One page of the log, newest first, and the cursor of the next (None on the last).

    `since` and `until` bound `at` half-open, [since, until), so consecutive ranges never
    list a record twice."""
    if since is not None and until is not None and until <= since:
        raise InvalidRequest("query.to", "must be after from")
    rows = await conn.fetch(
        Q.audit_page, object_type, object_id, actor, LOG.after(paging), paging.limit, since, until
    )
    return LOG.page(rows, paging)
