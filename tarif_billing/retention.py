"""The job that deletes closed accounts once their retention has passed.

Personal data is erased and everything the customer had (subscriptions, services, provisioned
balances, contacts, self-care login) is deleted, its SEPA mandates revoked and their accounts
erased; the customer row stays as `deleted`, so rated events, adjustments and the audit log
keep a valid reference. The engine's account goes through the outbox like any change (the relay
removes it from Redis).
"""

from __future__ import annotations

import asyncpg

from admin_api import audit, outbox
from admin_api.auth import SYSTEM
from tarif_billing.sepa import mandates
from tarif_postgres import queries

Q = queries.load("retention")


async def delete_due(pool: asyncpg.Pool, limit: int = 100) -> list[str]:
    """Delete the closed customers whose `delete_after` has passed; returns their account ids."""
    deleted: list[str] = []
    async with pool.acquire() as conn:
        for _ in range(limit):
            async with conn.transaction():
                row = await conn.fetchrow(Q.lock_next_due_customer)
                if row is None:
                    return deleted
                customer_id, account_id = row["id"], row["account_id"]
                await conn.execute(Q.delete_plan_transitions, customer_id)
                await conn.execute(Q.delete_services, customer_id)
                # out of sharing: its group loses a member; a group it owns is cancelled and
                # emptied (queued before the account, so the relay writes the group first)
                groups = await conn.fetch(Q.sharing_groups_touched, customer_id)
                await conn.execute(Q.cancel_owned_sharing_groups, customer_id)
                await conn.execute(Q.empty_owned_sharing_groups, customer_id)
                for group in groups:
                    await outbox.queue(conn, "group", group["id"])
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
                accounts = await outbox.queue_customer(conn, customer_id)
                await audit.record(
                    conn, SYSTEM, "customer.delete", "customer", str(customer_id),
                    {"status": "closed"}, {"status": "deleted"},
                )  # fmt: skip
                deleted.extend(accounts)
    return deleted
