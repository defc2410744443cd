"""Sharing groups in the back office, written to Postgres and to the engine together.

A change is written in Postgres (with an outbox row), then the group is written to Redis
(tarif_balances.sharing.Groups) before the commit: if the engine refuses it (a member with open
sessions cannot leave, an unknown resource, a negative cap), the Postgres change is rolled
back and the caller gets the reason. The outbox row lets the relay rewrite the group from
Postgres later (a crash between the Redis write and the commit, or `tarif sync`).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from admin_api import audit, catalog, groups, outbox
from admin_api.auth import Principal
from admin_api.groups import GroupTables
from admin_api.paging import Listed, Paging
from admin_api.schemas import MemberStatus, SharingGroupNew, SharingGroupPatch
from tarif_balances.sharing import Groups
from tarif_common.errors import Conflict, Duplicate, InvalidRequest, NotFound
from tarif_common.redis_client import RedisClient
from tarif_postgres import queries

Q = queries.load("sharing")
CUSTOMERS = queries.load("customers")


async def _write_to_engine(conn: asyncpg.Connection, redis: RedisClient, group_id: str) -> None:
    doc = await outbox.group_document(conn, group_id)
    if doc is None:
        return
    # ProvisioningError (422, with the reason) rolls the Postgres change back
    await Groups(redis, await catalog.current(conn)).put(doc, "body")


TABLES = GroupTables(
    "sharing group",
    "sharing_groups",
    "sharing_members",
    "id, owner_id, status, valid_from, valid_to, policy, created_at, updated_at",
    "customer_id, status, joined_at",
)


async def get(conn: asyncpg.Connection, group_id: str) -> dict[str, Any]:
    return await groups.get(conn, TABLES, group_id)


async def list_groups(conn: asyncpg.Connection, page: Paging) -> Listed:
    return await groups.list_all(conn, TABLES, page)


async def _member_unique(conn: asyncpg.Connection, group_id: str, customer_id: int) -> None:
    other = await conn.fetchval(Q.other_group_of_member, customer_id, group_id)
    if other is not None:
        raise Conflict(f"customer {customer_id} is a member of group {other!r}")
    owns = await conn.fetchval(Q.group_owned_by, customer_id)
    if owns is not None:
        raise Conflict(f"customer {customer_id} owns group {owns!r}")


async def create(
    conn: asyncpg.Connection, redis: RedisClient, who: Principal, body: SharingGroupNew
) -> dict[str, Any]:
    async with conn.transaction():
        if await conn.fetchval(CUSTOMERS.customer_exists, body.owner_id) is None:
            raise InvalidRequest("body.owner_id", f"no customer {body.owner_id}")
        if await conn.fetchval(Q.is_member, body.owner_id):
            raise Conflict(f"customer {body.owner_id} is a member of another group")
        try:
            await conn.execute(
                Q.insert_group,
                body.id,
                body.owner_id,
                body.valid_from,
                body.valid_to,
                body.policy,
            )
        except Duplicate:
            raise Conflict(f"group {body.id!r} exists, or its owner owns another") from None
        for member in body.members:
            await _join(conn, body.id, member.customer_id, member.status)
        await outbox.queue(conn, "group", body.id)
        await _write_to_engine(conn, redis, body.id)
        created = await get(conn, body.id)
        await audit.record(conn, who, "sharing.create", "sharing_group", body.id, None, created)
    return created


async def _join(conn: asyncpg.Connection, group_id: str, customer_id: int, status: str) -> None:
    if await conn.fetchval(CUSTOMERS.customer_exists, customer_id) is None:
        raise InvalidRequest("body.members", f"no customer {customer_id}")
    await _member_unique(conn, group_id, customer_id)
    await conn.execute(Q.upsert_member, group_id, customer_id, status)


async def join_new(conn: asyncpg.Connection, group_id: str, customer_id: int, status: str) -> None:
    """A customer being onboarded joins a group (inside the onboarding's transaction). The
    engine gets the group from the outbox once the customer's account exists there."""
    state = await conn.fetchval(Q.lock_group_status, group_id)
    if state is None:
        raise InvalidRequest("body.sharing.group", f"no sharing group {group_id!r}")
    if state != "active":
        raise Conflict(f"sharing group {group_id!r} is {state}")
    await _join(conn, group_id, customer_id, status)
    await outbox.queue(conn, "group", group_id)


async def update(
    conn: asyncpg.Connection,
    redis: RedisClient,
    who: Principal,
    group_id: str,
    body: SharingGroupPatch,
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidRequest("body", "nothing to change")
    async with conn.transaction():
        before = await get(conn, group_id)
        await conn.execute(
            Q.update_group,
            group_id,
            changes.get("status"),
            changes.get("policy"),
            changes.get("valid_from"),
            changes.get("valid_to"),
            "valid_from" in changes,
            "valid_to" in changes,
        )
        await outbox.queue(conn, "group", group_id)
        await _write_to_engine(conn, redis, group_id)
        after = await get(conn, group_id)
        await audit.record(conn, who, "sharing.update", "sharing_group", group_id, before, after)
    return after


async def put_member(
    conn: asyncpg.Connection,
    redis: RedisClient,
    who: Principal,
    group_id: str,
    customer_id: int,
    body: MemberStatus,
) -> dict[str, Any]:
    """Join the group, or change a member's status (suspended: uses its own balances only)."""
    async with conn.transaction():
        before = await get(conn, group_id)
        await _join(conn, group_id, customer_id, body.status)
        await outbox.queue(conn, "group", group_id)
        await _write_to_engine(conn, redis, group_id)
        after = await get(conn, group_id)
        await audit.record(
            conn, who, "sharing.member", "sharing_group", group_id,
            before["members"], after["members"],
        )  # fmt: skip
    return after


async def remove_member(
    conn: asyncpg.Connection, redis: RedisClient, who: Principal, group_id: str, customer_id: int
) -> dict[str, Any]:
    async with conn.transaction():
        before = await get(conn, group_id)
        gone = await conn.fetchval(Q.delete_member, group_id, customer_id)
        if gone is None:
            raise NotFound(f"customer {customer_id} is not a member of {group_id!r}")
        await outbox.queue(conn, "group", group_id)
        await _write_to_engine(conn, redis, group_id)
        after = await get(conn, group_id)
        await audit.record(
            conn, who, "sharing.leave", "sharing_group", group_id,
            before["members"], after["members"],
        )  # fmt: skip
    return after
