"""What sharing and hierarchy groups have in common: a group row with an owner, its members."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from admin_api.paging import Keyset, Listed, Paging
from tarif_common.errors import NotFound
from tarif_postgres import queries

Q = queries.load("groups")


@dataclass(frozen=True, slots=True)
class GroupTables:
    noun: str  # "sharing group"
    groups: str  # trusted SQL identifiers (they fill the slots of sql/groups.sql)
    members: str
    columns: str  # the group's columns shown
    member_columns: str


async def get(conn: asyncpg.Connection, t: GroupTables, group_id: str) -> dict[str, Any]:
    row = await conn.fetchrow(
        queries.compose(Q.group_by_id, columns=t.columns, groups=t.groups), group_id
    )
    if row is None:
        raise NotFound(f"no {t.noun} {group_id!r}")
    members = await conn.fetch(
        queries.compose(Q.group_members, member_columns=t.member_columns, members=t.members),
        group_id,
    )
    return dict(row) | {"members": [dict(m) for m in members]}


async def list_all(conn: asyncpg.Connection, t: GroupTables, page: Paging) -> Listed:
    """A page of the groups, by id."""
    keyset = Keyset(t.groups, "id", "")
    rows = await conn.fetch(
        queries.compose(Q.groups_with_member_counts, groups=t.groups, members=t.members),
        keyset.after(page),
        page.limit,
    )
    return keyset.page(rows, page)
