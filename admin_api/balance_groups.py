"""Balance groups: each holds balances and is one account of the engine.

A subscription is bound to one group, so the usage of its services can only move that group's
balances; several subscriptions may share a group. Onboarding creates the customer's first group
(`main`, whose engine account is the customer's account id). A group's validity bounds its
services: outside it the engine refuses their usage.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from admin_api import audit, outbox
from admin_api.auth import Principal
from admin_api.billing_profiles import check_window
from admin_api.paging import Keyset, Listed, Paging
from admin_api.schemas import BalanceGroupNew, BalanceGroupPatch
from tarif_common.errors import Conflict, Duplicate, InvalidRequest, NotFound
from tarif_postgres import queries

Q = queries.load("balance_groups")
CUSTOMERS = queries.load("customers")
PROFILES = queries.load("billing_profiles")


async def resolve(
    conn: asyncpg.Connection, customer_id: int, name: str | None, field: str
) -> asyncpg.Record:
    """The customer's group of that name, or its first one when `name` is None."""
    row = await conn.fetchrow(Q.balance_group_by_name_or_first, customer_id, name)
    if row is None:
        if name is None:
            raise NotFound(f"customer {customer_id} has no balance group")
        raise InvalidRequest(field, f"customer {customer_id} has no balance group {name!r}")
    return row


GROUPS = Keyset("balance-groups", "id", 0)


async def list_groups(conn: asyncpg.Connection, customer_id: int, page: Paging) -> Listed:
    if await conn.fetchval(CUSTOMERS.customer_exists, customer_id) is None:
        raise NotFound(f"no customer {customer_id}")
    after = GROUPS.after(page)
    rows = await conn.fetch(Q.balance_groups_of_customer, customer_id, after, page.limit)
    return GROUPS.page(rows, page)


async def _get(conn: asyncpg.Connection, group_id: int) -> dict[str, Any]:
    return dict(await conn.fetchrow(Q.balance_group_by_id, group_id))


async def _profile(
    conn: asyncpg.Connection, customer_id: int, profile_id: int | None
) -> int | None:
    found: int | None = await conn.fetchval(PROFILES.profile_or_first, customer_id, profile_id)
    if found is None and profile_id is not None:
        raise InvalidRequest(
            "body.billing_profile_id", f"customer {customer_id} has no billing profile {profile_id}"
        )
    return found


async def insert(
    conn: asyncpg.Connection,
    customer_id: int,
    name: str,
    account_id: str,
    billing_profile_id: int | None,
    valid_from: Any = None,
    valid_to: Any = None,
) -> int:
    """One group (inside the caller's transaction); a taken name or account id is a conflict."""
    try:
        group_id: int = await conn.fetchval(
            Q.insert_balance_group,
            customer_id,
            name,
            account_id,
            billing_profile_id,
            valid_from,
            valid_to,
        )
    except Duplicate as exc:
        if "account_id" in exc.constraint:
            raise Conflict(f"account id {account_id!r} is taken") from None
        raise Conflict(f"customer {customer_id} has a balance group {name!r}") from None
    return group_id


async def add_group(
    conn: asyncpg.Connection,
    customer_id: int,
    customer_account: str,
    name: str,
    account_id: str | None = None,
    billing_profile_id: int | None = None,
    valid_from: Any = None,
    valid_to: Any = None,
) -> tuple[int, str, int | None]:
    """A new group (inside the caller's transaction): its engine account defaults to
    `<customer account>.<name>`, its billing profile to the customer's first. Returns the
    group's id, account id and billing profile."""
    account_id = account_id or f"{customer_account}.{name}"
    profile = await _profile(conn, customer_id, billing_profile_id)
    group_id = await insert(conn, customer_id, name, account_id, profile, valid_from, valid_to)
    return group_id, account_id, profile


async def open_customer(conn: asyncpg.Connection, customer_id: int) -> asyncpg.Record:
    """The customer, locked, refused once closed: what it gets next must not race its closing."""
    customer = await conn.fetchrow(CUSTOMERS.lock_customer_status, customer_id)
    if customer is None:
        raise NotFound(f"no customer {customer_id}")
    if customer["status"] in ("closed", "deleted"):
        raise Conflict(f"customer {customer_id} is {customer['status']}")
    return customer


async def create(
    conn: asyncpg.Connection, who: Principal, customer_id: int, body: BalanceGroupNew
) -> dict[str, Any]:
    check_window(body.valid_from, body.valid_to)
    async with conn.transaction():
        customer = await open_customer(conn, customer_id)
        group_id, account_id, _ = await add_group(
            conn, customer_id, customer["account_id"], body.name, body.account_id,
            body.billing_profile_id, body.valid_from, body.valid_to,
        )  # fmt: skip
        created = await _get(conn, group_id)
        await audit.record(
            conn, who, "balance_group.create", "customer", str(customer_id), None,
            body.model_dump(mode="json") | {"account_id": account_id},
        )  # fmt: skip
    return created


async def update(
    conn: asyncpg.Connection, who: Principal, customer_id: int, name: str, body: BalanceGroupPatch
) -> tuple[str, dict[str, Any]]:
    """Billing profile or validity; returns the group's engine account (to resync) and it."""
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidRequest("body", "nothing to change")
    if "billing_profile_id" in changes and changes["billing_profile_id"] is None:
        raise InvalidRequest("body.billing_profile_id", "cannot be removed")
    async with conn.transaction():
        before = await conn.fetchrow(Q.lock_balance_group, customer_id, name)
        if before is None:
            raise NotFound(f"customer {customer_id} has no balance group {name!r}")
        start = changes.get("valid_from", before["valid_from"])
        end = changes.get("valid_to", before["valid_to"])
        check_window(start, end)
        profile = before["billing_profile_id"]
        if "billing_profile_id" in changes:
            profile = await _profile(conn, customer_id, changes["billing_profile_id"])
        await conn.execute(
            Q.update_balance_group,
            before["id"],
            profile,
            start,
            end,
        )
        await outbox.queue(conn, "account", before["account_id"])
        after = await _get(conn, before["id"])
        await audit.record(
            conn, who, "balance_group.update", "customer", str(customer_id),
            {k: before[k] for k in changes}, body.model_dump(mode="json", exclude_unset=True),
        )  # fmt: skip
    return str(before["account_id"]), after
