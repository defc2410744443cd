"""Service identifiers after onboarding: add, rename, suspend, validity, devices, remove.

The engine sees a service only while it is active and inside its validity; the admin process'
housekeeping notices validity boundaries as they pass and resyncs those accounts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from admin_api import audit, outbox
from admin_api.auth import Principal
from admin_api.paging import Keyset, Listed, Paging
from admin_api.schemas import ServiceNew, ServicePatch
from admin_api.subscriptions import services_free
from tarif_common.errors import Conflict, Duplicate, InvalidRequest, NotFound
from tarif_common.redis_client import RedisClient
from tarif_postgres import queries

Q = queries.load("services")
CUSTOMERS = queries.load("customers")


SERVICES = Keyset("services", "identifier", "")


async def list_services(conn: asyncpg.Connection, customer_id: int) -> list[dict[str, Any]]:
    """Every service of the customer (what a change answers), by identifier."""
    if await conn.fetchval(CUSTOMERS.customer_exists, customer_id) is None:
        raise NotFound(f"no customer {customer_id}")
    rows = await conn.fetch(Q.customer_services, customer_id, SERVICES.start, None)
    return [dict(r) for r in rows]


async def services_page(conn: asyncpg.Connection, customer_id: int, page: Paging) -> Listed:
    if await conn.fetchval(CUSTOMERS.customer_exists, customer_id) is None:
        raise NotFound(f"no customer {customer_id}")
    after = SERVICES.after(page)
    rows = await conn.fetch(Q.customer_services, customer_id, after, page.limit)
    return SERVICES.page(rows, page)


async def add(
    conn: asyncpg.Connection,
    redis: RedisClient,
    who: Principal,
    customer_id: int,
    subscription_id: int,
    body: ServiceNew,
) -> str:
    async with conn.transaction():
        row = await conn.fetchrow(Q.subscription_status_and_account, subscription_id, customer_id)
        if row is None:
            raise NotFound(f"customer {customer_id} has no subscription {subscription_id}")
        if row["status"] != "active":
            raise Conflict(f"subscription {subscription_id} is {row['status']}")
        await services_free(conn, redis, [body.identifier], row["account_id"], "body.identifier")
        try:
            await conn.execute(
                Q.insert_service,
                body.identifier,
                subscription_id,
                body.valid_from,
                body.valid_to,
                [d.model_dump() for d in body.devices],
            )
        except Duplicate:
            raise Conflict(f"service {body.identifier} is already in use") from None
        await outbox.queue(conn, "account", row["account_id"])
        await audit.record(
            conn, who, "service.add", "customer", str(customer_id), None,
            body.model_dump(mode="json") | {"subscription_id": subscription_id},
        )  # fmt: skip
    return str(row["account_id"])


async def _owned(conn: asyncpg.Connection, customer_id: int, identifier: str) -> asyncpg.Record:
    row = await conn.fetchrow(Q.lock_customer_service, identifier, customer_id)
    if row is None:
        raise NotFound(f"customer {customer_id} has no service {identifier}")
    return row


async def change(
    conn: asyncpg.Connection,
    redis: RedisClient,
    who: Principal,
    customer_id: int,
    identifier: str,
    body: ServicePatch,
) -> tuple[str, str]:
    """Returns (account id, the identifier after the change)."""
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidRequest("body", "nothing to change")
    if changes.get("identifier", ...) is None or changes.get("status", ...) is None:
        raise InvalidRequest("body", "identifier and status cannot be removed")
    async with conn.transaction():
        row = await _owned(conn, customer_id, identifier)
        start = changes.get("valid_from", row["valid_from"])
        end = changes.get("valid_to", row["valid_to"])
        if start and end and end <= start:
            raise InvalidRequest("body.valid_to", "must be after valid_from")
        new_identifier = changes.get("identifier", identifier)
        if new_identifier != identifier:
            await services_free(conn, redis, [new_identifier], row["account_id"], "body.identifier")
        await conn.execute(
            Q.update_service,
            identifier,
            new_identifier,
            changes.get("status", row["status"]),
            start,
            end,
            changes["devices"] if "devices" in changes else row["devices"],
        )
        await outbox.queue(conn, "account", row["account_id"])
        before = {k: row[k] for k in changes}
        await audit.record(
            conn, who, "service.change", "customer", str(customer_id), before,
            body.model_dump(mode="json", exclude_unset=True),
        )  # fmt: skip
    return str(row["account_id"]), new_identifier


async def remove(
    conn: asyncpg.Connection, who: Principal, customer_id: int, identifier: str
) -> str:
    async with conn.transaction():
        row = await _owned(conn, customer_id, identifier)
        await conn.execute(Q.delete_service, identifier)
        await outbox.queue(conn, "account", row["account_id"])
        await audit.record(
            conn, who, "service.remove", "customer", str(customer_id),
            {"identifier": identifier, "subscription_id": row["subscription_id"]},
        )  # fmt: skip
    return str(row["account_id"])


async def queue_validity_changes(pool: asyncpg.Pool, since: datetime) -> int:
    """Accounts with a service or balance group whose validity began or ended since `since`:
    resync them."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(Q.accounts_crossing_validity, since)
        for row in rows:
            await outbox.queue(conn, "account", row["account_id"])
    return len(rows)
