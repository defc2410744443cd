"""The job that deletes closed accounts once their retention has passed.

Personal data is erased and everything the customer had (subscriptions, services, provisioned
balances, contacts, self-care login) is deleted; the customer row stays as `deleted`, so rated
events, adjustments and the audit log keep a valid reference. The engine's account goes through
the outbox like any change (the relay removes it from Redis).
"""

from __future__ import annotations

import asyncpg

from admin_api import audit, outbox
from admin_api.auth import SYSTEM

_ERASE = """UPDATE customers SET status = 'deleted', deleted_at = now(), first_name = 'deleted',
    last_name = '', email = '', phone = '', organisation = NULL, address = '', city = '',
    state = '', postcode = NULL, custom_attributes = '{}', payment_info = '{}',
    updated_at = now() WHERE id = $1"""


async def delete_due(pool: asyncpg.Pool, limit: int = 100) -> list[str]:
    """Delete the closed customers whose `delete_after` has passed; returns their account ids."""
    deleted: list[str] = []
    async with pool.acquire() as conn:
        for _ in range(limit):
            async with conn.transaction():
                row = await conn.fetchrow(
                    """SELECT id, account_id FROM customers
                       WHERE status = 'closed' AND delete_after <= now()
                       ORDER BY delete_after LIMIT 1 FOR UPDATE SKIP LOCKED"""
                )
                if row is None:
                    return deleted
                customer_id, account_id = row["id"], row["account_id"]
                subscriptions = "SELECT id FROM subscriptions WHERE customer_id = $1"
                await conn.execute(
                    f"DELETE FROM plan_transitions WHERE subscription_id IN ({subscriptions})",
                    customer_id,
                )
                await conn.execute(
                    f"DELETE FROM services WHERE subscription_id IN ({subscriptions})",
                    customer_id,
                )
                # out of sharing: its group loses a member; a group it owns is cancelled and
                # emptied (queued before the account, so the relay writes the group first)
                groups = await conn.fetch(
                    """SELECT group_id AS id FROM sharing_members WHERE customer_id = $1
                       UNION SELECT id FROM sharing_groups WHERE owner_id = $1""",
                    customer_id,
                )
                await conn.execute(
                    """UPDATE sharing_groups SET status = 'cancelled', updated_at = now()
                       WHERE owner_id = $1""",
                    customer_id,
                )
                await conn.execute(
                    """DELETE FROM sharing_members WHERE group_id IN
                       (SELECT id FROM sharing_groups WHERE owner_id = $1)""",
                    customer_id,
                )
                for group in groups:
                    await outbox.queue(conn, "group", group["id"])
                await conn.execute(  # hierarchies: out of one, and one it owns is cancelled
                    "UPDATE hierarchy_groups SET status = 'cancelled', updated_at = now()"
                    " WHERE owner_id = $1",
                    customer_id,
                )
                for table in ("balances", "selfcare_users", "sharing_members", "hierarchy_members"):
                    await conn.execute(f"DELETE FROM {table} WHERE customer_id = $1", customer_id)
                await conn.execute(
                    "UPDATE subscriptions SET status = 'cancelled',"
                    " cancelled_at = coalesce(cancelled_at, now()) WHERE customer_id = $1",
                    customer_id,
                )
                await conn.execute("DELETE FROM account_contacts WHERE account_id = $1", account_id)
                await conn.execute(_ERASE, customer_id)
                accounts = await outbox.queue_customer(conn, customer_id)
                await audit.record(
                    conn, SYSTEM, "customer.delete", "customer", str(customer_id),
                    {"status": "closed"}, {"status": "deleted"},
                )  # fmt: skip
                deleted.extend(accounts)
    return deleted
