"""Plan transitions: a subscription moves to another plan, now (the admin API) or when a
scheduled transition comes due (the plan-transition job, as of its "process now").

The old plan's products are cancelled and the new plan's bundles bought as the catalog has them
(a prepaid subscription pays for them at once, like at onboarding). Service identifiers of the
old plan's service products move to the new plan's product of the same service type, or stay
with the subscription. A due transition takes effect at its `effective_at`: that is when the old
products end and the new ones start for billing, however late the job ran."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import asyncpg

from tarif_billing import purchasing
from tarif_billing.due import DueIds
from tarif_billing.published import published_catalog
from tarif_common.errors import Conflict, InvalidRequest
from tarif_postgres import changes, queries

Q = queries.load("subscriptions")


async def set_plan(
    conn: asyncpg.Connection,
    who: changes.Actor,
    row: asyncpg.Record,
    plan: str,
    at: datetime | None = None,
) -> int | None:
    """Move the locked subscription `row` (with its group's `account_id`) to `plan` as of `at`
    (now by default), inside the caller's transaction; returns the payment of a prepaid
    subscription's new bundles (settle it after the commit). A Conflict while a payment of the
    subscription is in progress; InvalidRequest for a plan the catalog does not have."""
    if await conn.fetchval(Q.has_pending_purchase, row["id"]):
        raise Conflict(f"subscription {row['id']} has a payment in progress: retry shortly")
    published = await published_catalog(conn)
    if plan not in published.plans:
        raise InvalidRequest("body.plan", f"plan {plan!r} is not in the catalog")
    await conn.execute(Q.set_plan, row["id"], plan)
    old = await conn.fetch(Q.cancel_plan_purchases, row["id"], at)
    carry: dict[str, list[str]] = {}
    for purchase in old:
        product = published.products.get(purchase["product"])
        identifiers = await conn.fetch(Q.detach_services, purchase["id"])
        if product is not None and product.service is not None and identifiers:
            carry.setdefault(product.service, []).extend(i["identifier"] for i in identifiers)
    sub = replace(purchasing.Subscription.of(row), plan=plan)
    global_services = [
        r["identifier"] for r in await conn.fetch(Q.services_without_purchase, row["id"])
    ]
    bought = await purchasing.buy_plan(
        conn, who, sub, [], [], global_services, "body", new_money=False, carry=carry, at=at
    )
    await changes.queue(conn, "account", row["account_id"])
    await changes.audit(
        conn, who, "subscription.plan", "subscription", str(row["id"]),
        {"plan": row["plan"], "products": [p["id"] for p in old]},
        {"plan": plan, "products": bought.purchases},
    )  # fmt: skip
    return bought.adjustment


@dataclass(frozen=True, slots=True)
class Applied:
    """What became of one due transition."""

    status: str  # done, failed, cancelled; scheduled: left for a later run
    reason: str
    account_id: str
    payment: int | None = None  # prepaid: the new bundles' payment to settle


# ids of the scheduled transitions due by `at` (`tarif_billing.due`)
due_transitions = DueIds(Q.due_transitions)


async def apply_transition(
    conn: asyncpg.Connection, transition_id: int, at: datetime
) -> Applied | None:
    """Apply one due transition in its own transaction (None: no longer scheduled, or another
    worker holds it). One that cannot be applied is closed `failed` with the reason; a
    cancelled subscription's is `cancelled`; a payment in progress leaves it scheduled."""
    async with conn.transaction():
        due = await conn.fetchrow(Q.lock_due_transition, transition_id, at)
        if due is None:
            return None
        row = await conn.fetchrow(Q.lock_subscription, due["subscription_id"])
        account_id = str(row["account_id"])
        if row["status"] != "active":
            applied = Applied("cancelled", "the subscription is not active", account_id)
        else:
            try:
                async with conn.transaction():  # a savepoint: a failure undoes it all
                    payment = await set_plan(
                        conn, changes.SYSTEM, row, due["plan"], due["effective_at"]
                    )
                applied = Applied("done", "", account_id, payment)
            except Conflict as exc:  # a payment in progress: a later run takes it
                return Applied("scheduled", exc.message, account_id)
            except InvalidRequest as exc:  # e.g. the plan left the catalog
                applied = Applied("failed", exc.reason, account_id)
        await conn.execute(Q.close_transition, due["id"], applied.status, applied.reason, at)
    return applied
