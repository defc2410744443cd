"""Buying the products of an offer (a plan's bundle or an option pack), and paying for them.

Buying records one purchase per chosen product (mandatory ones always, optional ones when asked
for) with its list price, the offer's and the coupons' discounts and the net price
(`tarif_catalog.pricing`), and what that price is computed from (the unit price and the
discount terms) so a change of quantity, a renewal or a contract change prices it the same way.
A product that grants a resource gets a balance of its own in the subscription's balance group
(`<product>-<purchase id>`); a service product gets its service identifiers.

A recurring product runs in cycles: the cycles of its balance group's billing profile (a
calendar month in the catalog's time zone when the group has none). `period_start` and
`period_end` hold the cycle in progress; the purchase-check job renews it at its end.

Paying: a postpaid subscription's prices go to its bills (the billing runs). A prepaid one pays
at once: the purchases stay `pending` (their grants and services not live yet) while the engine
takes the total from the group's money balance through an adjustment (exactly once,
`tarif_billing.adjustments`); then they become `active`, or `refused` when the balance could
not pay. A crash in between is finished by the admin process' housekeeping (`finish_pending`).

A purchase with a future start is recorded `scheduled`: nothing granted, nothing paid, its
services not live, until the deferred-activation job activates it (`activate_scheduled`).

The admin API and the batch's jobs (plan transitions, renewals, activations, contract changes)
both buy through here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol

import asyncpg

from tarif_billing import adjustments
from tarif_billing.cycles import Cycle, CycleRule, cycle_at
from tarif_billing.profiles import cycle_rule
from tarif_billing.published import published_catalog
from tarif_catalog import Catalog
from tarif_catalog.offers import Offer, Product
from tarif_catalog.pricing import CouponTerms, Line, price_lines
from tarif_common.errors import Conflict, InvalidRequest
from tarif_postgres import changes, queries

Q = queries.load("purchases")
PROFILES = queries.load("billing_profiles")


class Choice(Protocol):
    """One product of an offer as asked for; unset fields keep the catalog's
    (`admin_api.schemas.ProductChoice`)."""

    @property
    def product(self) -> str: ...

    @property
    def purchase(self) -> bool | None: ...

    @property
    def quantity(self) -> int | None: ...

    @property
    def value(self) -> str | None: ...

    @property
    def valid_to(self) -> datetime | None: ...

    @property
    def services(self) -> Sequence[str]: ...


class BundleChoice(Protocol):
    """The products asked for in one bundle of a plan (`admin_api.schemas.BundleChoice`)."""

    @property
    def bundle(self) -> str: ...

    @property
    def products(self) -> Sequence[Choice]: ...


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


async def group_rule(conn: asyncpg.Connection, group_id: int, published: Catalog) -> CycleRule:
    """The cycle rule a balance group's recurring products follow: its billing profile's, or a
    calendar month in the catalog's time zone (the engine's cycle) when it has none."""
    profile = await conn.fetchrow(PROFILES.group_cycle, group_id)
    if profile is None:
        return CycleRule("monthly", 1, published.timezone)
    return cycle_rule(profile)


def grant_end(product: Product, period: Cycle, start: datetime) -> datetime | None:
    """When a grant given at `start` for `period` ends: with the cycle, after its days, or
    never."""
    grant = product.grants
    if grant is None or grant.validity.kind == "forever":
        return None
    if grant.validity.kind == "days":
        return start + timedelta(days=grant.validity.days or 0)
    return period.end


def _chosen(
    offer: Offer, choices: Sequence[Choice], where: str
) -> tuple[dict[str, int], dict[str, tuple[int, Choice | None]]]:
    """Which products of the offer are bought, and how many of each."""
    items = {item.product: item for item in offer.items}
    by_product: dict[str, tuple[int, Choice | None]] = {}
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


def _grant(
    published: Catalog, product: Product, choice: Choice | None, quantity: int, field: str
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
    who: changes.Actor,
    sub: Subscription,
    offer: Offer,
    origin: str,
    choices: Sequence[Choice],
    coupons: Sequence[CouponTerms],
    where: str,
    *,
    global_services: Sequence[str] = (),
    voucher: str | None = None,
    new_money: bool = False,
    pay: bool = True,
    carry: dict[str, list[str]] | None = None,
    at: datetime | None = None,
    scheduled: bool = False,
) -> Bought:
    """Record the purchases of one offer (inside the caller's transaction).

    `voucher`: the code that pays it. `new_money`: the group's money balance was created in
    this same request (onboarding), so its provisioned amount is what it holds and must cover
    the price: refused before anything is written rather than after. `at`: when the purchase
    takes effect (now by default; a plan transition's effective time). `scheduled`: `at` is in
    the future and the purchase waits for the deferred-activation job (nothing granted or paid
    now)."""
    published = await published_catalog(conn)
    chosen, by_product = _chosen(offer, choices, where)
    decimals = published.resources[sub.currency].decimals
    lines = price_lines(published.products, offer, chosen, decimals, list(coupons), voucher)
    at = at or datetime.now(UTC)
    period = cycle_at(await group_rule(conn, sub.group_id, published), at)
    total = sum((line.price for line in lines), Decimal(0))  # 0 with a voucher
    prepaid = sub.payment_type == "prepaid" and total > 0
    status = "scheduled" if scheduled else "pending" if prepaid else "active"
    bought: list[int] = []
    for line in lines:
        product = published.products[line.product]
        i, choice = by_product.get(line.product, (-1, None))
        field = f"{where}.products[{i}]" if i >= 0 else where
        granted = _grant(published, product, choice, line.quantity, field)
        valid_to = grant_end(product, period, at)
        if choice is not None and choice.valid_to is not None:
            if choice.valid_to <= at:
                raise InvalidRequest(f"{field}.valid_to", "must be after the purchase's start")
            valid_to = choice.valid_to
        identifiers = list(choice.services) if choice is not None else []
        if identifiers and product.service is None:
            raise InvalidRequest(f"{field}.services", f"{product.name!r} is not a service product")
        carried = carry.pop(product.service, []) if carry and product.service else []
        if product.service is not None and not (identifiers or carried or global_services):
            raise InvalidRequest(field, f"{product.name!r} needs service identifiers")
        purchase_id = await insert(
            conn, sub, "voucher" if voucher else origin, offer.name, line, product, granted,
            Placed(at, valid_to, status, period, scheduled), [c.code for c in coupons],
            waives_connect_fee=offer.waive_connect_fee,
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
        await activate(conn, bought)
    adjustment = None
    if prepaid and pay and not scheduled:
        reason = f"{origin} {offer.name}"
        adjustment = await payment(conn, who, sub, bought, total, reason, where, new_money)
    await changes.queue(conn, "account", sub.account_id)
    due = total if prepaid and not pay and not scheduled else Decimal(0)
    return Bought(bought, adjustment, due)


@dataclass(frozen=True, slots=True)
class Placed:
    """When and how a purchase is recorded."""

    at: datetime  # it takes effect (created_at: its fees count from here)
    valid_to: datetime | None  # its grant's end
    status: str
    period: Cycle  # the cycle in progress at `at`
    scheduled: bool = False  # `at` is its deferred start


async def insert(
    conn: asyncpg.Connection,
    sub: Subscription,
    origin: str,
    offer: str,
    line: Line,
    product: Product,
    granted: tuple[str, Decimal] | None,
    placed: Placed,
    coupons: Sequence[str],
    *,
    waives_connect_fee: bool = False,
) -> int:
    """One purchase row (and the name of the balance it grants); returns its id.

    `waives_connect_fee`: its offer's; the balances it grants (renewals' too) carry it to the
    engine, where a call that starts on their free units pays no connect fee."""
    recurring = product.charge == "recurring"
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
        breakdown(line),
        list(coupons),
        None if granted is None else granted[0],
        None if granted is None else granted[1],
        placed.at if granted else None,
        placed.valid_to if granted else None,
        placed.status,
        line.unit_price,
        [t.to_json() for t in line.terms],
        placed.at,
        placed.at if placed.scheduled else None,
        placed.period.start if recurring else None,
        placed.period.end if recurring else None,
        waives_connect_fee,
    )
    if granted is not None:
        await conn.execute(Q.name_granted_balance, purchase_id)
    return purchase_id


def breakdown(line: Line) -> list[dict[str, str]]:
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


async def activate(conn: asyncpg.Connection, purchase_ids: list[int]) -> None:
    """Grants become balances of the group, services go live."""
    await conn.execute(Q.insert_granted_balances, purchase_ids)
    await conn.execute(Q.activate_purchase_services, purchase_ids)
    await conn.execute(Q.activate_purchases, purchase_ids)


async def payment(
    conn: asyncpg.Connection,
    who: changes.Actor,
    sub: Subscription,
    bought: list[int],
    total: Decimal,
    reason: str,
    where: str,
    new_money: bool = False,
    request_id: str | None = None,
    link: bool = True,
) -> int:
    """The adjustment that takes `total` from the group's money balance for `bought` (pending:
    settle it after the commit). `link`: the purchases wait for it (their first payment; a
    renewal's payment is its renewal's, not the purchase's)."""
    money = await conn.fetchrow(Q.money_balance, sub.group_id, sub.currency)
    if money is None:
        raise InvalidRequest(where, f"prepaid: the balance group has no {sub.currency} balance")
    if new_money and money["amount"] + money["credit_limit"] < total:
        raise InvalidRequest(
            where, f"prepaid: {total} {sub.currency} is due and the balance holds {money['amount']}"
        )
    adjustment: int = await adjustments.request(
        conn,
        who,
        sub.customer_id,
        money["balance_id"],
        -total,
        reason,
        request_id or f"purchase-{bought[0]}",
    )
    if link:
        await conn.execute(Q.set_purchases_payment, bought, adjustment)
    return adjustment


async def settle(
    pool: asyncpg.Pool,
    store: adjustments.Adjuster,
    adjustment_id: int,
    at: datetime | None = None,
) -> str:
    """Have the engine take a prepaid payment, then activate or refuse what it pays for;
    returns the purchases' status (`pending` while the engine does not have the account)."""
    await adjustments.apply(pool, store, adjustment_id, at)
    async with pool.acquire() as conn:
        return await finish(conn, adjustment_id)


async def finish(conn: asyncpg.Connection, adjustment_id: int) -> str:
    """The pending purchases an answered payment pays: activated, or refused (their services
    removed); `pending` while the engine has not answered, `done` when nothing waits."""
    async with conn.transaction():
        status = await conn.fetchval(Q.adjustment_status, adjustment_id)
        rows = await conn.fetch(Q.lock_pending_paid_by, adjustment_id)
        if status == "pending" or not rows:
            return "pending" if rows else "done"
        ids = [r["id"] for r in rows]
        if status == "applied":
            await activate(conn, ids)
        else:
            await conn.execute(Q.delete_purchase_services, ids)
            await conn.execute(Q.refuse_purchases, ids)
        await changes.queue(conn, "account", rows[0]["account_id"])
    return "active" if status == "applied" else "refused"


async def finish_pending(pool: asyncpg.Pool) -> int:
    """Purchases whose payment the engine answered but a crash left pending (housekeeping)."""
    async with pool.acquire() as conn:
        ids = [r["adjustment_id"] for r in await conn.fetch(Q.answered_pending_payments)]
        for adjustment_id in ids:
            await finish(conn, adjustment_id)
    return len(ids)


async def buy_plan(
    conn: asyncpg.Connection,
    who: changes.Actor,
    sub: Subscription,
    choices: Sequence[BundleChoice],
    coupons: Sequence[CouponTerms],
    global_services: Sequence[str],
    where: str,
    *,
    new_money: bool,
    carry: dict[str, list[str]] | None = None,
    at: datetime | None = None,
) -> Bought:
    """Every bundle of the plan: as chosen in `choices`, or as the catalog has it. One payment
    for all of it."""
    published = await published_catalog(conn)
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
            coupons, field, global_services=global_services, pay=False, carry=carry, at=at,
        )  # fmt: skip
        purchases += bought.purchases
        if bought.due:
            pending += bought.purchases
            due += bought.due
    if not due:
        return Bought(purchases, None)
    reason = f"plan {sub.plan}"
    adjustment = await payment(conn, who, sub, pending, due, reason, where, new_money)
    return Bought(purchases, adjustment)
