"""Deferred purchases: bought with a future start (`scheduled`: nothing granted, nothing paid,
services not live), activated by the deferred-activation job once the start has come.

At activation a postpaid (or free) purchase becomes `active` at once: its grant becomes a
balance, its services go live, and its fees count from its start on the bills. A prepaid one
with a price is paid then, like any prepaid purchase: `pending` while the engine takes the
price from the group's money balance through an adjustment (once: its id is the purchase's),
then `active`, or `refused` when the balance cannot pay. A purchase whose subscription was
cancelled before its start is cancelled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from tarif_billing import purchasing, terms
from tarif_billing.due import DueIds
from tarif_common.errors import InvalidRequest
from tarif_postgres import changes, queries

Q = queries.load("purchases")

Outcome = Literal["current", "active", "pay", "refused", "cancelled"]


@dataclass(frozen=True, slots=True)
class Activated:
    outcome: Outcome
    account_id: str = ""
    adjustment_id: int | None = None
    message: str = ""


# ids of the scheduled purchases whose start came by `at` (`tarif_billing.due`)
purchases_to_activate = DueIds(Q.purchases_to_activate)


async def activate(conn: asyncpg.Connection, purchase_id: int, at: datetime) -> Activated:
    """Activate one deferred purchase as of `at`, in its own transaction; a prepaid one's
    payment is asked (`pay`: apply it after the commit, then `purchasing.finish`)."""
    async with conn.transaction():
        row = await conn.fetchrow(Q.lock_purchase_to_activate, purchase_id, at)
        if row is None:
            return Activated("current")
        account = str(row["account_id"])
        if row["subscription_status"] != "active":
            await terms.end_purchase(conn, row, row["starts_at"])
            return Activated("cancelled", account, message="its subscription was cancelled")
        if row["status"] == "pending":  # its payment was asked: the engine's answer decides
            status = await conn.fetchval(Q.adjustment_status, row["adjustment_id"])
            if status == "pending":
                return Activated("pay", account, row["adjustment_id"])
            done = await purchasing.finish(conn, row["adjustment_id"])
            return Activated("active" if done == "active" else "refused", account)
        if row["payment_type"] == "prepaid" and row["price"] > 0:
            sub = purchasing.Subscription(
                row["subscription_id"], row["customer_id"], row["balance_group_id"],
                row["account_id"], row["plan"], row["payment_type"], row["currency"],
            )  # fmt: skip
            await conn.execute(Q.mark_purchase_pending, purchase_id)
            try:
                adjustment = await purchasing.payment(
                    conn, changes.SYSTEM, sub, [purchase_id], row["price"],
                    f"{row['origin']} {row['offer']} from {row['starts_at']:%Y-%m-%d}",
                    "purchase", request_id=f"activation-{purchase_id}",
                )  # fmt: skip
            except InvalidRequest as exc:  # no money balance to pay from
                await conn.execute(Q.delete_purchase_services, [purchase_id])
                await conn.execute(Q.refuse_purchases, [purchase_id])
                return Activated("refused", account, message=exc.reason)
            return Activated("pay", account, adjustment)
        await purchasing.activate(conn, [purchase_id])
        await changes.queue(conn, "account", account)
    return Activated("active", account)
