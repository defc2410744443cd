"""Deleting closed accounts once their retention has passed (the account-deletion job).

Personal data is erased and everything the customer had (subscriptions, services, provisioned
balances, contacts, self-care login) is deleted, its SEPA mandates revoked and their accounts
erased; the customer row stays as `deleted`, so rated events, adjustments and the audit log
keep a valid reference. A customer with an invoice still due is kept until it is paid. The
engine's account goes through the outbox like any change (the relay removes it from Redis).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from tarif_billing.due import DueIds
from tarif_billing.sepa import mandates
from tarif_postgres import changes, queries

Q = queries.load("retention")


@dataclass(frozen=True, slots=True)
class Deleted:
    accounts: list[str]  # its engine accounts, queued for removal from Redis
    groups: list[str]  # the sharing groups it left or owned, queued for the engine


# ids of the closed customers whose retention passed by `at` (`tarif_billing.due`)
due_customers = DueIds(Q.due_customers)


async def delete_customer(
    conn: asyncpg.Connection, customer_id: int, at: datetime
) -> Deleted | None:
    """Delete one customer due by `at`, in its own transaction; None when it is not due (any
    more) or another worker holds it."""
    async with conn.transaction():
        row = await conn.fetchrow(Q.lock_due_customer, customer_id, at)
        if row is None:
            return None
        account_id = row["account_id"]
        await conn.execute(Q.delete_plan_transitions, customer_id)
        await conn.execute(Q.delete_services, customer_id)
        # out of sharing: its group loses a member; a group it owns is cancelled and
        # emptied (queued before the account, so the relay writes the group first)
        groups = [g["id"] for g in await conn.fetch(Q.sharing_groups_touched, customer_id)]
        await conn.execute(Q.cancel_owned_sharing_groups, customer_id)
        await conn.execute(Q.empty_owned_sharing_groups, customer_id)
        for group in groups:
            await changes.queue(conn, "group", group)
        # hierarchies: out of one, and one it owns is cancelled
        await conn.execute(Q.cancel_owned_hierarchies, customer_id)
        await conn.execute(Q.delete_balances, customer_id)
        await conn.execute(Q.delete_selfcare_user, customer_id)
        await conn.execute(Q.erase_selfcare_mails, customer_id)
        await conn.execute(Q.delete_sharing_memberships, customer_id)
        await conn.execute(Q.delete_hierarchy_memberships, customer_id)
        await conn.execute(Q.cancel_subscriptions, customer_id)
        await conn.execute(Q.delete_account_contacts, account_id)
        await conn.execute(Q.erase_customer, customer_id)
        await mandates.erase(conn, customer_id)
        accounts = await changes.queue_customer(conn, customer_id)
        await changes.audit(
            conn, changes.SYSTEM, "customer.delete", "customer", str(customer_id),
            {"status": "closed"}, {"status": "deleted"},
        )  # fmt: skip
    return Deleted(accounts, groups)


async def delete_due(pool: asyncpg.Pool, at: datetime | None = None, limit: int = 100) -> list[str]:
    """Delete every customer due by `at` (now by default), at most `limit`; returns their
    account ids. The job does the same per customer, with criteria and reporting."""
    at = at or datetime.now(UTC)
    deleted: list[str] = []
    async with pool.acquire() as conn:
        for customer_id in await due_customers(conn, at, ("TRUE", []), 0, limit, None):
            done = await delete_customer(conn, customer_id, at)
            if done is not None:
                deleted.extend(done.accounts)
    return deleted
