"""What a subscription buys: the products of its plan's bundles and of option packs.

Buying an offer (a bundle or a pack) records one purchase per chosen product (mandatory ones
always, optional ones when asked for) with its list price, the offer's and the coupon's
discounts and the net price (`tarif_catalog.pricing`), and what that price is computed from
(the unit price and the discount terms) so a change of quantity prices it the same way. A
product that grants a resource gets a balance of its own in the subscription's balance group
(`<product>-<purchase id>`); a service product gets its service identifiers.

Paying: a postpaid subscription's prices go to its bills (the billing runs). A prepaid one pays
at once: the purchases stay `pending` (their grants and services not live yet) while the
engine takes the total from the group's money balance through an adjustment (exactly once, the
same path as a back-office adjustment); then they become `active`, or `refused` when the
balance could not pay. A crash in between is finished by the housekeeping loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from admin_api import audit, balances, catalog, outbox
from admin_api.auth import Principal
from admin_api.paging import Keyset, Listed, Paging
from admin_api.schemas import Adjustment, PackPurchase, ProductChoice, PurchasePatch
from tarif_balances.store import RedisBalanceStore
from tarif_catalog import Catalog
from tarif_catalog.offers import Offer, Product
from tarif_catalog.pricing import CouponTerms, Line, price_line, price_lines, terms_from_json
from tarif_common.errors import Conflict, InvalidRequest, NotFound, Refused
from tarif_postgres import queries

Q = queries.load("purchases")


@dataclass(frozen=True, slots=True)
class Subscription:
    """What buying needs to know of the subscription it buys for."""

    id: int
    customer_id: int
    group_id: int
    account_id: str
    plan: str
    payment_type: str
    currency: str

    @classmethod
    def of(cls, row: asyncpg.Record) -> Subscription:
        """From a `subscriptions` row with its group's `account_id`."""
        return cls(
            row["id"], row["customer_id"], row["balance_group_id"], row["account_id"],
            row["plan"], row["payment_type"], row["currency"],
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Bought:
    purchases: list[int]
    adjustment: int | None  # prepaid: the payment to settle after the commit
    due: Decimal = Decimal(0)  # prepaid, not paid yet (buy(pay=False))


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


def _chosen(
    offer: Offer, choices: list[ProductChoice], where: str
) -> tuple[dict[str, int], dict[str, tuple[int, ProductChoice | None]]]:
    """Which products of the offer are bought, and how many of each."""
    items = {item.product: item for item in offer.items}
    by_product: dict[str, tuple[int, ProductChoice | None]] = {}
    for i, given in enumerate(choices):
        if given.product not in items:
            raise InvalidRequest(
                f"{where}.products[{i}].product", f"{given.product!r} is not in {offer.name!r}"
            )
        by_product[given.product] = (i, given)
    chosen: dict[str, int] = {}
    for item in offer.items:
        i, choice = by_product.get(item.product, (-1, None))
        if choice is not None and choice.purchase is False and not item.optional:
            raise InvalidRequest(f"{where}.products[{i}].purchase", "the product is not optional")
        if not item.optional or (choice is not None and choice.purchase):
            chosen[item.product] = (choice.quantity if choice else None) or item.quantity
    return chosen, by_product


def _validity_end(published: Catalog, product: Product, now: datetime) -> datetime | None:
    grant = product.grants
    if grant is None or grant.validity.kind == "forever":
        return None
    if grant.validity.kind == "days":
        return now + timedelta(days=grant.validity.days or 0)
    return balances.cycle_end(published.timezone, now)


def _grant(
    published: Catalog, product: Product, choice: ProductChoice | None, quantity: int, field: str
) -> tuple[str, Decimal] | None:
    """(resource, total granted in the resource's unit), or None for a product granting none."""
    grant = product.grants
    if grant is None:
        if choice is not None and (choice.value is not None or choice.valid_to is not None):
            raise InvalidRequest(field, f"{product.name!r} grants nothing")
        return None
    decimals = published.resources[grant.resource].decimals
    value = Decimal(grant.amount).scaleb(-decimals)
    if choice is not None and choice.value is not None:
        value = Decimal(choice.value)
        if value <= 0 or value != value.quantize(Decimal(1).scaleb(-decimals)):
            raise InvalidRequest(f"{field}.value", f"must be > 0 with at most {decimals} decimals")
    return grant.resource, value * quantity


async def buy(
    conn: asyncpg.Connection,
    who: Principal,
    sub: Subscription,
    offer: Offer,
    origin: str,
    choices: list[ProductChoice],
    coupons: list[CouponTerms],
    where: str,
    *,
    global_services: Sequence[str] = (),
    voucher: str | None = None,
    new_money: bool = False,
    pay: bool = True,
    carry: dict[str, list[str]] | None = None,
) -> Bought:
    """Record the purchases of one offer (inside the caller's transaction).

    `voucher`: the code that pays it. `new_money`: the group's money balance was created in
    this same request (onboarding), so its provisioned amount is what it holds and must cover
    the price: refused before anything is written rather than after."""
    published = await catalog.current(conn)
    chosen, by_product = _chosen(offer, choices, where)
    decimals = published.resources[sub.currency].decimals
    lines = price_lines(published.products, offer, chosen, decimals, coupons, voucher)
    now = datetime.now(UTC)
    total = sum((line.price for line in lines), Decimal(0))  # 0 with a voucher
    prepaid = sub.payment_type == "prepaid" and total > 0
    status = "pending" if prepaid else "active"
    bought: list[int] = []
    for line in lines:
        product = published.products[line.product]
        i, choice = by_product.get(line.product, (-1, None))
        field = f"{where}.products[{i}]" if i >= 0 else where
        granted = _grant(published, product, choice, line.quantity, field)
        valid_to = _validity_end(published, product, now)
        if choice is not None and choice.valid_to is not None:
            if choice.valid_to <= now:
                raise InvalidRequest(f"{field}.valid_to", "must be in the future")
            valid_to = choice.valid_to
        identifiers = list(choice.services) if choice is not None else []
        if identifiers and product.service is None:
            raise InvalidRequest(f"{field}.services", f"{product.name!r} is not a service product")
        carried = carry.pop(product.service, []) if carry and product.service else []
        if product.service is not None and not (identifiers or carried or global_services):
            raise InvalidRequest(field, f"{product.name!r} needs service identifiers")
        purchase_id = await _insert(
            conn, sub, "voucher" if voucher else origin, offer.name, line, product, granted, now,
            valid_to, status, coupons,
        )  # fmt: skip
        bought.append(purchase_id)
        if identifiers:
            await _add_services(conn, sub, purchase_id, identifiers, status, f"{field}.services")
        if carried:  # a plan transition: the old plan's line moves to this product
            await conn.execute(
                Q.move_services_to_purchase,
                carried,
                purchase_id,
                "active" if status == "active" else "suspended",
            )
    if status == "active":
        await _activate(conn, bought)
    adjustment = None
    if prepaid and pay:
        reason = f"{origin} {offer.name}"
        adjustment = await _payment(conn, who, sub, bought, total, reason, where, new_money)
    await outbox.queue(conn, "account", sub.account_id)
    return Bought(bought, adjustment, total if prepaid and not pay else Decimal(0))


async def _insert(
    conn: asyncpg.Connection,
    sub: Subscription,
    origin: str,
    offer: str,
    line: Line,
    product: Product,
    granted: tuple[str, Decimal] | None,
    now: datetime,
    valid_to: datetime | None,
    status: str,
    coupons: list[CouponTerms],
) -> int:
    purchase_id: int = await conn.fetchval(
        Q.insert_purchase,
        sub.id,
        origin,
        offer,
        product.name,
        line.quantity,
        None if granted is None else granted[1] / line.quantity,
        sub.currency,
        product.charge,
        line.list_price,
        line.discount,
        line.price,
        _breakdown(line),
        [c.code for c in coupons],
        None if granted is None else granted[0],
        None if granted is None else granted[1],
        now if granted else None,
        valid_to if granted else None,
        status,
        line.unit_price,
        [t.to_json() for t in line.terms],
    )
    if granted is not None:
        await conn.execute(Q.name_granted_balance, purchase_id)
    return purchase_id


def _breakdown(line: Line) -> list[dict[str, str]]:
    """A line's discounts as the purchase shows them."""
    return [{"source": s, "id": i, "amount": str(a)} for s, i, a in line.discounts]


async def _add_services(
    conn: asyncpg.Connection,
    sub: Subscription,
    purchase_id: int,
    identifiers: list[str],
    status: str,
    field: str,
) -> None:
    taken = await conn.fetchval(Q.first_service_in_use, identifiers)
    if taken is not None:
        raise Conflict(f"{field}: {taken} is already in use")
    await conn.executemany(
        Q.insert_purchase_service,
        [
            (i, sub.id, purchase_id, "active" if status == "active" else "suspended")
            for i in identifiers
        ],
    )


async def _activate(conn: asyncpg.Connection, purchase_ids: list[int]) -> None:
    """Grants become balances of the group, services go live."""
    await conn.execute(Q.insert_granted_balances, purchase_ids)
    await conn.execute(Q.activate_purchase_services, purchase_ids)
    await conn.execute(Q.activate_purchases, purchase_ids)


async def _payment(
    conn: asyncpg.Connection,
    who: Principal,
    sub: Subscription,
    bought: list[int],
    total: Decimal,
    reason: str,
    where: str,
    new_money: bool,
) -> int:
    money = await conn.fetchrow(Q.money_balance, sub.group_id, sub.currency)
    if money is None:
        raise InvalidRequest(where, f"prepaid: the balance group has no {sub.currency} balance")
    if new_money and money["amount"] + money["credit_limit"] < total:
        raise InvalidRequest(
            where, f"prepaid: {total} {sub.currency} is due and the balance holds {money['amount']}"
        )
    adjustment: int = await balances.request_adjustment(
        conn,
        who,
        sub.customer_id,
        money["balance_id"],
        Adjustment(
            request_id=f"purchase-{bought[0]}",
            amount=f"-{total}",
            reason=reason,
        ),
    )
    await conn.execute(Q.set_purchases_payment, bought, adjustment)
    return adjustment


async def settle(pool: asyncpg.Pool, store: RedisBalanceStore, adjustment_id: int) -> str:
    """Have the engine take a prepaid payment, then activate or refuse what it pays for;
    returns the purchases' status (`pending` while the engine does not have the account)."""
    await balances.apply(pool, store, adjustment_id)
    async with pool.acquire() as conn:
        return await finish(conn, adjustment_id)


async def finish(conn: asyncpg.Connection, adjustment_id: int) -> str:
    async with conn.transaction():
        status = await conn.fetchval(Q.adjustment_status, adjustment_id)
        rows = await conn.fetch(Q.lock_pending_paid_by, adjustment_id)
        if status == "pending" or not rows:
            return "pending" if rows else "done"
        ids = [r["id"] for r in rows]
        if status == "applied":
            await _activate(conn, ids)
        else:
            await conn.execute(Q.delete_purchase_services, ids)
            await conn.execute(Q.refuse_purchases, ids)
        await outbox.queue(conn, "account", rows[0]["account_id"])
    return "active" if status == "applied" else "refused"


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


async def finish_pending(pool: asyncpg.Pool) -> int:
    """Purchases whose payment the engine answered but a crash left pending (housekeeping)."""
    async with pool.acquire() as conn:
        ids = [r["adjustment_id"] for r in await conn.fetch(Q.answered_pending_payments)]
        for adjustment_id in ids:
            await finish(conn, adjustment_id)
    return len(ids)


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
    """An option pack on top of the plan; `redeem_coupon(conn, code, sub, field)` gives each
    coupon's terms, `services_free(conn, identifiers, account, field)` checks new lines."""
    async with conn.transaction():
        sub = await subscription(conn, customer_id, subscription_id)  # locked: retries queue
        earlier = await conn.fetch(Q.purchases_of_request, subscription_id, body.request_id)
        if earlier:
            if earlier[0]["offer"] != body.pack:
                raise Conflict(f"request_id {body.request_id!r} bought {earlier[0]['offer']!r}")
            return Bought([r["id"] for r in earlier], earlier[0]["adjustment_id"])
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
        bought = await buy(conn, who, sub, pack, "pack", body.products, coupons, "body")
        await conn.execute(Q.set_purchases_request, bought.purchases, body.request_id)
        await audit.record(
            conn, who, "subscription.pack", "subscription", str(subscription_id), None,
            body.model_dump(mode="json") | {"purchases": bought.purchases},
        )  # fmt: skip
    return bought


async def _purchase(
    conn: asyncpg.Connection, customer_id: int, subscription_id: int, purchase_id: int
) -> asyncpg.Record:
    row = await conn.fetchrow(Q.lock_purchase, purchase_id, subscription_id, customer_id)
    if row is None:
        raise NotFound(f"subscription {subscription_id} has no product {purchase_id}")
    if row["status"] != "active":
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
    """New quantity, value or end: the price is recomputed (`price_line`, from the unit price and
    discount terms kept with the purchase) for the next charges and the
    granted balance moves by the difference (an adjustment applied once, like any other).
    Returns the group's account and that adjustment."""
    changes = body.model_dump(exclude_unset=True)
    if not changes or any(v is None for v in changes.values()):
        raise InvalidRequest("body", "give quantity, value or valid_to (none can be removed)")
    async with conn.transaction():
        row = await _purchase(conn, customer_id, subscription_id, purchase_id)
        published = await catalog.current(conn)
        if row["balance_id"] is None and ("value" in changes or "valid_to" in changes):
            raise InvalidRequest("body", f"{row['product']!r} grants nothing")
        quantity = changes.get("quantity", row["quantity"])
        # priced as buying `quantity` at once would have been: same unit price, same terms
        line = price_line(
            row["product"],
            row["unit_price"],
            quantity,
            terms_from_json(row["discount_terms"]),
            published.resources[row["currency"]].decimals,
        )
        adjustment = None
        granted = row["granted"]
        if row["balance_id"] is not None:
            value = Decimal(changes["value"]) if "value" in changes else row["value"]
            decimals_r = published.resources[row["resource"]].decimals
            if value <= 0 or value != value.quantize(Decimal(1).scaleb(-decimals_r)):
                raise InvalidRequest(
                    "body.value", f"must be > 0 with at most {decimals_r} decimals"
                )
            granted = value * quantity
            if granted != row["granted"]:
                adjustment = await balances.request_adjustment(
                    conn,
                    who,
                    customer_id,
                    row["balance_id"],
                    Adjustment(
                        request_id=f"purchase-{purchase_id}-{datetime.now(UTC).timestamp():.6f}",
                        amount=str(granted - row["granted"]),
                        reason=f"product {purchase_id} modified",
                    ),
                )
        valid_to = changes.get("valid_to", row["valid_to"])
        await conn.execute(
            Q.update_purchase_terms, purchase_id, quantity,
            None if granted is None else granted / quantity, granted, line.list_price,
            line.discount, line.price, _breakdown(line), valid_to,
        )  # fmt: skip
        if row["balance_id"] is not None:
            # the provisioned amount stays: the adjustment's rated record carries the change,
            # so `tarif sync` (provisioned + recorded movements) counts it once
            await conn.execute(Q.set_balance_end, customer_id, row["balance_id"], valid_to)
        await outbox.queue(conn, "account", row["account_id"])
        await audit.record(
            conn, who, "product.modify", "subscription", str(subscription_id),
            {k: str(row[k]) for k in changes}, body.model_dump(mode="json", exclude_unset=True)
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
    until its end."""
    async with conn.transaction():
        row = await _purchase(conn, customer_id, subscription_id, purchase_id)
        await conn.execute(Q.cancel_purchase, purchase_id)
        await conn.execute(Q.delete_services_of_purchase, purchase_id)
        await outbox.queue(conn, "account", row["account_id"])
        await audit.record(
            conn, who, "product.cancel", "subscription", str(subscription_id),
            {"purchase": purchase_id, "status": "active"}, {"status": "cancelled"},
        )  # fmt: skip
    return str(row["account_id"])


async def buy_plan(
    conn: asyncpg.Connection,
    who: Principal,
    sub: Subscription,
    choices: list[Any],
    coupons: list[CouponTerms],
    global_services: list[str],
    where: str,
    *,
    new_money: bool,
    carry: dict[str, list[str]] | None = None,
) -> Bought:
    """Every bundle of the plan: as chosen in `choices` (BundleChoice), or as the catalog has it.
    One payment for all of it."""
    published = await catalog.current(conn)
    plan = published.plans[sub.plan]
    chosen = {c.bundle: (i, c) for i, c in enumerate(choices)}
    for name, (i, _) in chosen.items():
        if name not in plan.bundles:
            raise InvalidRequest(f"{where}.bundles[{i}].bundle", f"{name!r} is not in {sub.plan!r}")
    purchases: list[int] = []
    pending: list[int] = []
    due = Decimal(0)
    for name in plan.bundles:
        i, choice = chosen.get(name, (-1, None))
        field = f"{where}.bundles[{i}]" if i >= 0 else where
        bought = await buy(
            conn, who, sub, published.bundles[name], "plan", choice.products if choice else [],
            coupons, field, global_services=global_services, pay=False, carry=carry,
        )  # fmt: skip
        purchases += bought.purchases
        if bought.due:
            pending += bought.purchases
            due += bought.due
    if not due:
        return Bought(purchases, None)
    reason = f"plan {sub.plan}"
    adjustment = await _payment(conn, who, sub, pending, due, reason, where, new_money)
    return Bought(purchases, adjustment)
