"""Hierarchy groups: members' invoices transferred to the owner's billing profile.

Postgres only (the engine charges members as usual); the billing runs read it. One level deep:
an owner is nobody's member, a member owns no hierarchy, a customer is in one at most.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from admin_api import audit, groups
from admin_api.auth import Principal
from admin_api.groups import GroupTables
from admin_api.paging import Listed, Paging
from admin_api.schemas import HierarchyNew, HierarchyPatch
from tarif_common.errors import Conflict, Duplicate, InvalidRequest, NotFound
from tarif_postgres import queries

Q = queries.load("hierarchy")
CUSTOMERS = queries.load("customers")
PROFILES = queries.load("billing_profiles")

TABLES = GroupTables(
    "hierarchy group",
    "hierarchy_groups",
    "hierarchy_members",
    "id, owner_id, billing_profile_id, status, created_at, updated_at",
    "customer_id, joined_at",
)


async def get(conn: asyncpg.Connection, group_id: str) -> dict[str, Any]:
    return await groups.get(conn, TABLES, group_id)


async def list_groups(conn: asyncpg.Connection, page: Paging) -> Listed:
    return await groups.list_all(conn, TABLES, page)


async def _profile(conn: asyncpg.Connection, owner_id: int, profile_id: int | None) -> int:
    found = await conn.fetchval(PROFILES.profile_or_first, owner_id, profile_id)
    if found is None:
        raise InvalidRequest("body.billing_profile_id", "is not a billing profile of the owner")
    return int(found)


async def _can_join(conn: asyncpg.Connection, group_id: str, customer_id: int) -> None:
    row = await conn.fetchrow(Q.hierarchy_standing, customer_id)
    if not row["known"]:
        raise InvalidRequest("body.members", f"no customer {customer_id}")
    if row["member_of"] not in (None, group_id):
        raise Conflict(f"customer {customer_id} is in hierarchy {row['member_of']!r}")
    if row["owns"] is not None:
        raise Conflict(f"customer {customer_id} owns hierarchy {row['owns']!r}")


async def create(conn: asyncpg.Connection, who: Principal, body: HierarchyNew) -> dict[str, Any]:
    async with conn.transaction():
        if await conn.fetchval(CUSTOMERS.customer_exists, body.owner_id) is None:
            raise InvalidRequest("body.owner_id", f"no customer {body.owner_id}")
        if await conn.fetchval(Q.is_hierarchy_member, body.owner_id):
            raise Conflict(f"customer {body.owner_id} is a member of a hierarchy")
        profile_id = await _profile(conn, body.owner_id, body.billing_profile_id)
        try:
            await conn.execute(Q.insert_hierarchy_group, body.id, body.owner_id, profile_id)
        except Duplicate:
            raise Conflict(f"hierarchy {body.id!r} exists, or its owner owns another") from None
        for customer_id in body.members:
            if customer_id == body.owner_id:
                raise InvalidRequest("body.members", "the owner cannot be a member")
            await _can_join(conn, body.id, customer_id)
            await conn.execute(Q.add_hierarchy_member, body.id, customer_id)
        created = await get(conn, body.id)
        await audit.record(conn, who, "hierarchy.create", "hierarchy_group", body.id, None, created)
    return created


async def update(
    conn: asyncpg.Connection, who: Principal, group_id: str, body: HierarchyPatch
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    if not changes or any(v is None for v in changes.values()):
        raise InvalidRequest("body", "give a status or a billing_profile_id")
    async with conn.transaction():
        before = await get(conn, group_id)
        profile = before["billing_profile_id"]
        if "billing_profile_id" in changes:
            profile = await _profile(conn, before["owner_id"], changes["billing_profile_id"])
        await conn.execute(
            Q.update_hierarchy_group,
            group_id,
            changes.get("status", before["status"]),
            profile,
        )
        after = await get(conn, group_id)
        await audit.record(
            conn, who, "hierarchy.update", "hierarchy_group", group_id, before, after
        )
    return after


async def join_new(conn: asyncpg.Connection, group_id: str, customer_id: int) -> None:
    """A customer being onboarded joins a hierarchy (inside the onboarding's transaction)."""
    state = await conn.fetchval(Q.lock_hierarchy_status, group_id)
    if state is None:
        raise InvalidRequest("body.hierarchy.group", f"no hierarchy group {group_id!r}")
    if state != "active":
        raise Conflict(f"hierarchy group {group_id!r} is {state}")
    await conn.execute(Q.insert_hierarchy_member, group_id, customer_id)


async def join(
    conn: asyncpg.Connection, who: Principal, group_id: str, customer_id: int
) -> dict[str, Any]:
    async with conn.transaction():
        before = await get(conn, group_id)
        if customer_id == before["owner_id"]:
            raise InvalidRequest("customer_id", "the owner cannot be a member")
        await _can_join(conn, group_id, customer_id)
        await conn.execute(Q.add_hierarchy_member, group_id, customer_id)
        after = await get(conn, group_id)
        await audit.record(
            conn, who, "hierarchy.join", "hierarchy_group", group_id,
            before["members"], after["members"],
        )  # fmt: skip
    return after


async def leave(
    conn: asyncpg.Connection, who: Principal, group_id: str, customer_id: int
) -> dict[str, Any]:
    async with conn.transaction():
        before = await get(conn, group_id)
        gone = await conn.fetchval(Q.remove_hierarchy_member, group_id, customer_id)
        if gone is None:
            raise NotFound(f"customer {customer_id} is not in hierarchy {group_id!r}")
        after = await get(conn, group_id)
        await audit.record(
            conn, who, "hierarchy.leave", "hierarchy_group", group_id,
            before["members"], after["members"],
        )  # fmt: skip
    return after
