"""What a subscription buys, as the admin API shows and changes it: option packs (now or from a
future start), the products bought, their modification and cancellation.

Buying and paying is `tarif_billing.purchasing`, which the batch's jobs use too: a postpaid
subscription's prices go to its bills; a prepaid one pays at once through an adjustment (the
purchases stay `pending` until the engine answers, then `active` or `refused`); a pack bought
with a future `start` is `scheduled` until the deferred-activation job activates (and, prepaid,
pays for) it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from admin_api import audit, balances, catalog
from admin_api.auth import Principal
from admin_api.paging import Keyset, Listed, Paging
from admin_api.schemas import PackPurchase, PurchasePatch
from tarif_billing import terms
from tarif_billing.purchasing import Bought, Subscription, buy
from tarif_common.errors import Conflict, InvalidRequest, NotFound, Refused
from tarif_postgres import queries

Q = queries.load("purchases")


async def locked_subscription(
    conn: asyncpg.Connection, customer_id: int, subscription_id: int
) -> asyncpg.Record:
    """The customer's active subscription with its group's `account_id`, locked for the change."""
    row = await conn.fetchrow(Q.lock_subscription, subscription_id, customer_id)
    if row is None:
        raise NotFound(f"customer {customer_id} has no subscription {subscription_id}")
    if row["status"] != "active":
        raise Conflict(f"subscription {subscription_id} is {row['status']}")
    return row


async def subscription(
    conn: asyncpg.Connection, customer_id: int, subscription_id: int
) -> Subscription:
    return Subscription.of(await locked_subscription(conn, customer_id, subscription_id))


async def refusal(
    conn: asyncpg.Connection, adjustment_id: int, context: str = ""
) -> Refused | None:
    """The problem to answer when the engine refused a payment (or a credit): the purchases it
    paid stay recorded as `refused` (nothing granted, their services not live), listed with
    the subscription's products; `context` says what else the request left in place."""
    paid = await balances.adjustment(conn, adjustment_id)
    refused = balances.refusal(paid)
    if refused is None:
        return None
    ids = [r["id"] for r in await conn.fetch(Q.purchases_paid_by, adjustment_id)]
    if not ids:
        return refused
    return Refused(
        refused.result,
        f"the engine refused the payment of purchases {ids} ({paid['result']}): they are kept"
        f" as refused, nothing they grant is usable{context}",
        refused.state | {"purchases": ids},
    )


# -- option packs, products after the purchase ---------------------------------------------


PURCHASES = Keyset("products", "id", 0)


async def list_purchases(
    conn: asyncpg.Connection, customer_id: int, subscription_id: int, page: Paging
) -> Listed:
    exists = await conn.fetchval(Q.customer_has_subscription, subscription_id, customer_id)
    if exists is None:
        raise NotFound(f"customer {customer_id} has no subscription {subscription_id}")
    after = PURCHASES.after(page)
    rows = await conn.fetch(Q.subscription_purchases, subscription_id, after, page.limit)
    return PURCHASES.page(rows, page)


async def get(conn: asyncpg.Connection, purchase_id: int) -> dict[str, Any]:
    return dict(await conn.fetchrow(Q.purchase_by_id, purchase_id))


async def buy_pack(
    conn: asyncpg.Connection,
    who: Principal,
    customer_id: int,
    subscription_id: int,
    body: PackPurchase,
    redeem_coupon: Any,
    services_free: Any,
) -> Bought:
    """An option pack on top of the plan, now or from a future `start` (then `scheduled`:
    nothing granted or paid until the deferred-activation job activates it);
    `redeem_coupon(conn, code, sub, field)` gives each coupon's terms,
    `services_free(conn, identifiers, account, field)` checks new lines."""
    async with conn.transaction():
        sub = await subscription(conn, customer_id, subscription_id)  # locked: retries queue
        earlier = await conn.fetch(Q.purchases_of_request, subscription_id, body.request_id)
        if earlier:
            if earlier[0]["offer"] != body.pack:
                raise Conflict(f"request_id {body.request_id!r} bought {earlier[0]['offer']!r}")
            return Bought([r["id"] for r in earlier], earlier[0]["adjustment_id"])
        if body.start is not None and body.start <= datetime.now(UTC):
            raise InvalidRequest("body.start", "must be in the future: leave it out to buy now")
        published = await catalog.current(conn)
        pack = published.packs.get(body.pack)
        if pack is None:
            raise InvalidRequest("body.pack", f"unknown pack {body.pack!r}")
        if pack.plans and sub.plan not in pack.plans:
            raise InvalidRequest("body.pack", f"{body.pack!r} is not sold with plan {sub.plan!r}")
        if lines := [i for choice in body.products for i in choice.services]:
            await services_free(conn, lines, sub.account_id, "body.products")
        coupons = [
            await redeem_coupon(conn, code, sub, f"body.coupons[{i}]")
            for i, code in enumerate(body.coupons)
        ]
        bought = await buy(
            conn, who, sub, pack, "pack", body.products, coupons, "body",
            at=body.start, scheduled=body.start is not None,
        )  # fmt: skip
        await conn.execute(Q.set_purchases_request, bought.purchases, body.request_id)
        await audit.record(
            conn, who, "subscription.pack", "subscription", str(subscription_id), None,
            body.model_dump(mode="json") | {"purchases": bought.purchases},
        )  # fmt: skip
    return bought


async def _purchase(
    conn: asyncpg.Connection,
    customer_id: int,
    subscription_id: int,
    purchase_id: int,
    statuses: tuple[str, ...] = ("active",),
) -> asyncpg.Record:
    row = await conn.fetchrow(Q.lock_purchase, purchase_id, subscription_id, customer_id)
    if row is None:
        raise NotFound(f"subscription {subscription_id} has no product {purchase_id}")
    if row["status"] not in statuses:
        raise Conflict(f"product {purchase_id} is {row['status']}")
    return row


async def modify(
    conn: asyncpg.Connection,
    who: Principal,
    customer_id: int,
    subscription_id: int,
    purchase_id: int,
    body: PurchasePatch,
) -> tuple[str, int | None]:
    """New quantity, value or end (`tarif_billing.terms.change_terms`): the price is recomputed
    for the next charges and the granted balance moves by the difference (an adjustment applied
    once, like any other). Returns the group's account and that adjustment."""
    changed = body.model_dump(exclude_unset=True)
    if not changed or any(v is None for v in changed.values()):
        raise InvalidRequest("body", "give quantity, value or valid_to (none can be removed)")
    async with conn.transaction():
        row = await _purchase(conn, customer_id, subscription_id, purchase_id)
        if row["balance_id"] is None and ("value" in changed or "valid_to" in changed):
            raise InvalidRequest("body", f"{row['product']!r} grants nothing")
        adjustment = await terms.change_terms(
            conn, who, row, f"purchase-{purchase_id}-{datetime.now(UTC).timestamp():.6f}",
            quantity=body.quantity, value=None if body.value is None else Decimal(body.value),
            valid_to=body.valid_to,
        )  # fmt: skip
        await audit.record(
            conn, who, "product.modify", "subscription", str(subscription_id),
            {k: str(row[k]) for k in changed}, body.model_dump(mode="json", exclude_unset=True)
            | {"purchase": purchase_id},
        )  # fmt: skip
    return str(row["account_id"]), adjustment


async def cancel(
    conn: asyncpg.Connection,
    who: Principal,
    customer_id: int,
    subscription_id: int,
    purchase_id: int,
) -> str:
    """No more charges or renewals; its services stop at once, what it granted stays usable
    until its end. A scheduled (not started) or suspended (renewal unpaid) product can be
    cancelled too."""
    async with conn.transaction():
        row = await _purchase(
            conn, customer_id, subscription_id, purchase_id, ("active", "scheduled", "suspended")
        )
        await terms.end_purchase(conn, row, datetime.now(UTC))
        await audit.record(
            conn, who, "product.cancel", "subscription", str(subscription_id),
            {"purchase": purchase_id, "status": row["status"]}, {"status": "cancelled"},
        )  # fmt: skip
    return str(row["account_id"])
