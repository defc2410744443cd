"""The audit log: who changed what, when, and how it looked before and after."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from admin_api.auth import Principal
from tarif_postgres import queries

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
    await conn.execute(
        Q.insert_audit_record,
        who.actor,
        who.role.value,
        action,
        object_type,
        object_id,
        _plain(before),
        _plain(after),
    )


def _plain(value: Any) -> Any:
    """JSON-safe (dates, decimals as strings)."""
    return None if value is None else json.loads(json.dumps(value, default=str))


async def page(
    conn: asyncpg.Connection,
    *,
    object_type: str | None,
    object_id: str | None,
    actor: str | None,
    before_id: int | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the log, newest first, and the cursor of the next (None on the last)."""
    rows = await conn.fetch(Q.audit_page, object_type, object_id, actor, before_id, limit)
    items = [dict(r) for r in rows]
    return items, str(items[-1]["id"]) if len(items) == limit else None
