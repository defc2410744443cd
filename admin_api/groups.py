"""What sharing and hierarchy groups have in common: a group row with an owner, its members."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from tarif_common.errors import NotFound


@dataclass(frozen=True, slots=True)
class GroupTables:
    noun: str  # "sharing group"
    groups: str  # trusted SQL identifiers
    members: str
    columns: str  # the group's columns shown
    member_columns: str


async def get(conn: asyncpg.Connection, t: GroupTables, group_id: str) -> dict[str, Any]:
    row = await conn.fetchrow(f"SELECT {t.columns} FROM {t.groups} WHERE id = $1", group_id)
    if row is None:
        raise NotFound(f"no {t.noun} {group_id!r}")
    members = await conn.fetch(
        f"SELECT {t.member_columns} FROM {t.members} WHERE group_id = $1 ORDER BY customer_id",
        group_id,
    )
    return dict(row) | {"members": [dict(m) for m in members]}


async def list_all(conn: asyncpg.Connection, t: GroupTables) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""SELECT g.id, g.owner_id, g.status, count(m.customer_id) AS members
            FROM {t.groups} g LEFT JOIN {t.members} m ON m.group_id = g.id
            GROUP BY g.id ORDER BY g.id"""
    )
    return [dict(r) for r in rows]
