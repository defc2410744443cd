"""The audit log: who changed what, when, and how it looked before and after."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from admin_api.auth import Principal


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
        """INSERT INTO audit_log (actor, role, action, object_type, object_id, before, after)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
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
