"""Subscriptions after onboarding: plan transitions (now or at a date), cancellation, payment."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from admin_api import audit, catalog, outbox
from admin_api.auth import SYSTEM, Principal
from admin_api.schemas import PaymentChange, PlanChange
from tarif_common.errors import Conflict, InvalidRequest, NotFound


async def _subscription(
    conn: asyncpg.Connection, customer_id: int, subscription_id: int
) -> asyncpg.Record:
    row = await conn.fetchrow(
        """SELECT s.*, c.account_id, c.status AS customer_status FROM subscriptions s
           JOIN customers c ON c.id = s.customer_id
           WHERE s.id = $1 AND s.customer_id = $2 FOR UPDATE OF s""",
        subscription_id,
        customer_id,
    )
    if row is None:
        raise NotFound(f"customer {customer_id} has no subscription {subscription_id}")
    if row["status"] != "active":
        raise Conflict(f"subscription {subscription_id} is {row['status']}")
    return row


async def change_plan(
    conn: asyncpg.Connection,
    who: Principal,
    customer_id: int,
    subscription_id: int,
    body: PlanChange,
) -> tuple[str, dict[str, Any]]:
    """Now (the engine rates with the new plan at once) or scheduled for `effective_at`."""
    published = await catalog.current(conn)
    if body.plan not in published.plans:
        raise InvalidRequest("body.plan", f"unknown plan {body.plan!r}")
    now = datetime.now(UTC)
    async with conn.transaction():
        row = await _subscription(conn, customer_id, subscription_id)
        if body.effective_at is not None and body.effective_at > now:
            transition_id = await conn.fetchval(
                """INSERT INTO plan_transitions (subscription_id, plan, effective_at, requested_by)
                   VALUES ($1, $2, $3, $4) RETURNING id""",
                subscription_id,
                body.plan,
                body.effective_at,
                who.actor,
            )
            done = {"transition": transition_id, "plan": body.plan, "status": "scheduled",
                    "effective_at": body.effective_at.isoformat()}  # fmt: skip
            await audit.record(
                conn, who, "subscription.plan_scheduled", "subscription", str(subscription_id),
                {"plan": row["plan"]}, done,
            )  # fmt: skip
            return row["account_id"], done
        await _set_plan(conn, who, row, body.plan)
        return row["account_id"], {"plan": body.plan, "status": "done"}


async def _set_plan(
    conn: asyncpg.Connection, who: Principal, row: asyncpg.Record, plan: str
) -> None:
    await conn.execute("UPDATE subscriptions SET plan = $2 WHERE id = $1", row["id"], plan)
    await outbox.queue(conn, "account", row["account_id"])
    await audit.record(
        conn, who, "subscription.plan", "subscription", str(row["id"]),
        {"plan": row["plan"]}, {"plan": plan},
    )  # fmt: skip


async def apply_due_transitions(pool: asyncpg.Pool) -> list[str]:
    """Scheduled transitions whose time has come; returns the accounts changed."""
    changed: list[str] = []
    async with pool.acquire() as conn:
        while True:
            async with conn.transaction():
                due = await conn.fetchrow(
                    """SELECT id, subscription_id, plan FROM plan_transitions
                       WHERE status = 'scheduled' AND effective_at <= now()
                       ORDER BY effective_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"""
                )
                if due is None:
                    return changed
                row = await conn.fetchrow(
                    """SELECT s.*, c.account_id FROM subscriptions s
                       JOIN customers c ON c.id = s.customer_id WHERE s.id = $1 FOR UPDATE OF s""",
                    due["subscription_id"],
                )
                status = "cancelled"
                if row["status"] == "active":
                    await _set_plan(conn, SYSTEM, row, due["plan"])
                    changed.append(row["account_id"])
                    status = "done"
                await conn.execute(
                    "UPDATE plan_transitions SET status = $2, done_at = now() WHERE id = $1",
                    due["id"],
                    status,
                )


async def transitions(conn: asyncpg.Connection, customer_id: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT t.id, t.subscription_id, t.plan, t.effective_at, t.status, t.requested_by,
                  t.requested_at, t.done_at
           FROM plan_transitions t JOIN subscriptions s ON s.id = t.subscription_id
           WHERE s.customer_id = $1 ORDER BY t.id""",
        customer_id,
    )
    return [dict(r) for r in rows]


async def cancel(
    conn: asyncpg.Connection, who: Principal, customer_id: int, subscription_id: int
) -> str:
    """The services stop being charged at once (the engine refuses their usage)."""
    async with conn.transaction():
        row = await _subscription(conn, customer_id, subscription_id)
        await conn.execute(
            "UPDATE subscriptions SET status = 'cancelled', cancelled_at = now() WHERE id = $1",
            subscription_id,
        )
        await conn.execute(
            "UPDATE plan_transitions SET status = 'cancelled' WHERE subscription_id = $1"
            " AND status = 'scheduled'",
            subscription_id,
        )
        await outbox.queue(conn, "account", row["account_id"])
        await audit.record(
            conn, who, "subscription.cancel", "subscription", str(subscription_id),
            {"status": "active"}, {"status": "cancelled"},
        )  # fmt: skip
    return str(row["account_id"])


async def set_payment(
    conn: asyncpg.Connection, who: Principal, customer_id: int, body: PaymentChange
) -> None:
    payment = body.payment.model_dump(mode="json")
    method = payment.pop("method")
    async with conn.transaction():
        before = await conn.fetchrow(
            "SELECT payment_method, payment_info FROM customers WHERE id = $1 FOR UPDATE",
            customer_id,
        )
        if before is None:
            raise NotFound(f"no customer {customer_id}")
        await conn.execute(
            """UPDATE customers SET payment_method = $2, payment_info = $3, updated_at = now()
               WHERE id = $1""",
            customer_id,
            method,
            payment,
        )
        await audit.record(
            conn, who, "customer.payment", "customer", str(customer_id),
            {"method": before["payment_method"], **before["payment_info"]},
            {"method": method, **payment},
        )  # fmt: skip
