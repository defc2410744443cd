"""Subscriptions: opening one (at onboarding or later, in a balance group), plan transitions
(now, or scheduled for a date: applied by the plan-transition job, `tarif_billing.plans`),
cancellation, payment."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from admin_api import audit, balance_groups, catalog, coupons, outbox, purchases, sepa, vouchers
from admin_api.auth import SYSTEM, Principal
from admin_api.paging import Keyset, Listed, Paging
from admin_api.schemas import PaymentChange, PlanChange, SubscriptionIn, payment_info
from tarif_balances.provisioning import AccountDoc, account_fields
from tarif_billing import plans, purchasing
from tarif_catalog import Catalog
from tarif_catalog.pricing import CouponTerms
from tarif_common import keys
from tarif_common.errors import Conflict, Duplicate, InvalidRequest, NotFound, ProvisioningError
from tarif_common.redis_client import RedisClient, mget
from tarif_postgres import queries

Q = queries.load("subscriptions")
PROFILES = queries.load("billing_profiles")


def all_services(s: SubscriptionIn) -> list[str]:
    """Global identifiers and those given per product."""
    found = list(s.services)
    for bundle in s.bundles:
        for choice in bundle.products:
            found += choice.services
    return found


@dataclass(frozen=True, slots=True)
class Opened:
    subscription_id: int
    adjustments: list[int]  # to settle after the commit (voucher credits, then the payment)


async def redeem_coupon(
    conn: asyncpg.Connection, code: str, sub: purchasing.Subscription, field: str
) -> CouponTerms:
    return await coupons.redeem(conn, code, sub.id, sub.plan, sub.currency, field)


def _engine_doc(s: SubscriptionIn, account_id: str, where: str) -> AccountDoc:
    """The new subscription's own part of its group's engine account (checked before any
    write); a postpaid credit limit goes on its money balance (a `main` one if it has none)."""
    balances = [b.model_dump(exclude_none=True) for b in s.balances]
    if s.payment_type == "postpaid" and s.credit_limit is not None:
        money = [b for b in balances if b["resource"] == s.currency]
        if not money:
            balances.append({"id": "main", "resource": s.currency, "amount": "0"})
            money = balances[-1:]
        money[0].setdefault("credit_limit", s.credit_limit)
    document = {
        "id": account_id,
        "plan": s.plan,
        "payment_type": s.payment_type,
        "services": all_services(s),
        "balances": balances,
        "credit_profile": s.credit_profile,
    }
    try:
        return AccountDoc.model_validate(document)
    except ValueError as exc:
        raise InvalidRequest(where, str(exc)) from None


async def services_free(
    conn: asyncpg.Connection,
    redis: RedisClient,
    identifiers: list[str],
    account_id: str,
    where: str,
) -> None:
    """Unique across every customer, and not held in Redis by an account Postgres does not know."""
    taken = await conn.fetch(Q.services_in_use, identifiers)
    if taken:
        raise Conflict(f"{where}: {taken[0]['identifier']} is already in use")
    routes = await mget(redis, [keys.route(i) for i in identifiers])
    for identifier, raw in zip(identifiers, routes, strict=True):
        if raw is not None and keys.text(raw).split("|")[1] != account_id:
            raise Conflict(f"{where}: {identifier} is already in use")


def checker(
    redis: RedisClient,
) -> Callable[[asyncpg.Connection, list[str], str, str], Awaitable[None]]:
    """`services_free` bound to a Redis (what purchases.buy_pack takes)."""

    async def check(conn: asyncpg.Connection, ids: list[str], account: str, where: str) -> None:
        await services_free(conn, redis, ids, account, where)

    return check


async def open_subscription(
    conn: asyncpg.Connection,
    redis: RedisClient,
    customer_id: int,
    group_id: int,
    account_id: str,
    s: SubscriptionIn,
    where: str,
    *,
    new_money: bool,
) -> Opened:
    """Insert a subscription with its services, balances, coupon, vouchers and the products of
    its plan's bundles into a balance group (inside the caller's transaction) and queue the
    group for the engine. It is billed on the cycle of the group's billing profile. `new_money`:
    the group is new in this request (see tarif_billing.purchasing.buy)."""
    identifiers = all_services(s)
    if not identifiers:
        raise InvalidRequest(f"{where}.services", "a subscription needs a service identifier")
    if len(set(identifiers)) != len(identifiers):
        raise InvalidRequest(f"{where}.services", "service identifiers repeat")
    published = await catalog.current(conn)
    doc = _engine_doc(s, account_id, where)
    try:
        account_fields(doc, published, where)
    except ProvisioningError as exc:
        raise InvalidRequest(where, exc.message) from None
    money = published.resources.get(s.currency)
    if money is None or money.currency is None:
        raise InvalidRequest(f"{where}.currency", f"{s.currency!r} is not a money resource")
    other = await conn.fetchval(Q.other_payment_type, group_id, s.payment_type)
    if other is not None:
        raise InvalidRequest(
            f"{where}.payment_type", f"the balance group's subscriptions are {other}"
        )
    await joins_cycle(conn, group_id, s, where)
    await services_free(conn, redis, identifiers, account_id, f"{where}.services")
    subscription_id: int = await conn.fetchval(
        Q.insert_subscription,
        customer_id,
        s.plan,
        s.payment_type,
        s.currency,
        s.credit_profile,
        s.credit_limit,
        group_id,
    )
    try:
        await conn.executemany(
            Q.insert_subscription_service,
            [(identifier, subscription_id) for identifier in s.services],
        )
    except Duplicate as exc:
        taken = re.search(r"\(identifier\)=\((.*?)\)", exc.message)
        name = taken[1] if taken else "a service identifier"
        raise Conflict(f"{where}.services: {name} is already in use") from None
    try:
        await conn.executemany(
            Q.insert_balance,
            [
                (
                    customer_id,
                    b.id,
                    b.resource,
                    str(b.amount),
                    b.valid_from,
                    b.valid_to,
                    b.priority,
                    None if b.credit_limit is None else str(b.credit_limit),
                    group_id,
                )
                for b in doc.balances
            ],
        )
    except Duplicate as exc:
        taken = re.search(r"balance_id\)=\(\d+, (.*?)\)", exc.message)
        name = taken[1] if taken else "a balance id"
        raise Conflict(f"{where}.balances: the customer already has a balance {name}") from None
    sub = purchasing.Subscription(
        subscription_id, customer_id, group_id, account_id, s.plan, s.payment_type, s.currency
    )
    coupons = [
        await redeem_coupon(conn, code, sub, f"{where}.coupons[{i}]")
        for i, code in enumerate(s.coupons)
    ]
    adjustments = []
    for i, code in enumerate(s.vouchers):
        used = await vouchers.use(conn, SYSTEM, customer_id, code, sub, f"{where}.vouchers[{i}]")
        if used.adjustment is not None:
            adjustments.append(used.adjustment)
    bought = await purchasing.buy_plan(
        conn, SYSTEM, sub, s.bundles, coupons, s.services, where, new_money=new_money
    )
    if bought.adjustment is not None:
        adjustments.append(bought.adjustment)
    await check_group(conn, published, account_id, where)
    await outbox.queue(conn, "account", account_id)
    return Opened(subscription_id, adjustments)


async def joins_cycle(
    conn: asyncpg.Connection, group_id: int, s: SubscriptionIn, where: str
) -> None:
    """A subscription has no cycle of its own: it is billed on its balance group's billing
    profile's. An interval or billing day sent with it must be that profile's (a 422 naming
    the fields that differ), rather than be accepted and then ignored."""
    given = {
        name: value
        for name, value in (("interval", s.interval), ("billing_day", s.billing_day))
        if value is not None
    }
    if not given:
        return
    profile = await conn.fetchrow(PROFILES.group_cycle, group_id)
    if profile is None:
        raise InvalidRequest(
            f"{where}.{next(iter(given))}",
            "the balance group has no billing profile to take a cycle from: give the group one",
        )
    has = {"interval": profile["billing_interval"], "billing_day": profile["billing_day"]}
    differ = [name for name, value in given.items() if value != has[name]]
    if differ:
        raise InvalidRequest(
            f"{where}.{differ[0]}",
            f"{' and '.join(differ)} differ from the balance group's billing profile"
            f" {profile['id']} ({has['interval']}, billing day {has['billing_day']}): a"
            " subscription is billed on its profile's cycle; leave them out or change the profile",
        )


async def check_group(
    conn: asyncpg.Connection, published: Catalog, account_id: str, where: str
) -> None:
    """The group's whole engine account is valid once the change is in (same transaction)."""
    document = await outbox.account_document(conn, account_id)
    if document is None:
        return
    try:
        account_fields(AccountDoc.model_validate(document), published, where)
    except (ProvisioningError, ValueError) as exc:
        raise InvalidRequest(where, getattr(exc, "message", str(exc))) from None


async def add(
    conn: asyncpg.Connection,
    redis: RedisClient,
    who: Principal,
    customer_id: int,
    s: SubscriptionIn,
) -> tuple[Opened, str]:
    """Another subscription for an existing customer, in an existing balance group or a new
    one; returns its id and the group's engine account."""
    async with conn.transaction():
        customer = await balance_groups.open_customer(conn, customer_id)
        group = await conn.fetchrow(Q.balance_group_for, customer_id, s.balance_group)
        if group is None and s.balance_group is None:
            raise Conflict(f"customer {customer_id} has no balance group")
        new_money = group is None
        if group is None:
            group_id, account_id, _ = await balance_groups.add_group(
                conn, customer_id, customer["account_id"], str(s.balance_group)
            )
        else:
            group_id, account_id = group["id"], group["account_id"]
        opened = await open_subscription(
            conn, redis, customer_id, group_id, account_id, s, "body", new_money=new_money
        )
        await audit.record(
            conn, who, "subscription.add", "subscription", str(opened.subscription_id), None,
            s.model_dump(mode="json") | {"customer_id": customer_id},
        )  # fmt: skip
    return opened, account_id


async def change_plan(
    conn: asyncpg.Connection,
    who: Principal,
    customer_id: int,
    subscription_id: int,
    body: PlanChange,
) -> tuple[str, dict[str, Any]]:
    """Now (the engine rates with the new plan at once) or scheduled for `effective_at`; a
    moment already past is refused rather than applied (and paid) as if it were now."""
    published = await catalog.current(conn)
    if body.plan not in published.plans:
        raise InvalidRequest("body.plan", f"unknown plan {body.plan!r}")
    now = datetime.now(UTC)
    if body.effective_at is not None and body.effective_at <= now:
        raise InvalidRequest(
            "body.effective_at",
            f"{body.effective_at.isoformat()} is past: leave it out to change the plan now",
        )
    async with conn.transaction():
        row = await purchases.locked_subscription(conn, customer_id, subscription_id)
        if body.effective_at is not None:
            transition_id = await conn.fetchval(
                Q.schedule_transition,
                subscription_id,
                body.plan,
                body.effective_at,
                who.actor,
            )
            done = {"transition_id": transition_id, "plan": body.plan, "status": "scheduled",
                    "effective_at": body.effective_at.isoformat()}  # fmt: skip
            await audit.record(
                conn, who, "subscription.plan_scheduled", "subscription", str(subscription_id),
                {"plan": row["plan"]}, done,
            )  # fmt: skip
            return row["account_id"], done
        if body.plan == row["plan"]:  # a retry of a transition made: nothing bought twice
            return row["account_id"], {"plan": body.plan, "status": "unchanged"}
        done = {"plan": body.plan, "status": "done"}
        if payment := await plans.set_plan(conn, who, row, body.plan):
            done["adjustment_id"] = payment  # a prepaid subscription pays the new bundles now
        return row["account_id"], done


TRANSITIONS = Keyset("plan-transitions", "id", 0)


async def transitions(conn: asyncpg.Connection, customer_id: int, page: Paging) -> Listed:
    rows = await conn.fetch(
        Q.customer_transitions, customer_id, TRANSITIONS.after(page), page.limit
    )
    return TRANSITIONS.page(rows, page)


async def cancel(
    conn: asyncpg.Connection, who: Principal, customer_id: int, subscription_id: int
) -> str:
    """The services stop being charged at once (the engine refuses their usage)."""
    async with conn.transaction():
        row = await purchases.locked_subscription(conn, customer_id, subscription_id)
        await conn.execute(Q.cancel_subscription, subscription_id)
        await conn.execute(Q.cancel_scheduled_transitions, subscription_id)
        await outbox.queue(conn, "account", row["account_id"])
        await audit.record(
            conn, who, "subscription.cancel", "subscription", str(subscription_id),
            {"status": "active"}, {"status": "cancelled"},
        )  # fmt: skip
    return str(row["account_id"])


async def set_payment(
    conn: asyncpg.Connection,
    who: Principal,
    customer_id: int,
    body: PaymentChange,
    *,
    creditor_id: str,
) -> None:
    """The customer's payment info, and the SEPA mandate it names made the active one (another
    method revokes it)."""
    payment = payment_info(body.payment)
    method = payment.pop("method")
    async with conn.transaction():
        before = await conn.fetchrow(Q.lock_customer_payment, customer_id)
        if before is None:
            raise NotFound(f"no customer {customer_id}")
        await conn.execute(Q.set_customer_payment, customer_id, method, payment)
        await sepa.write_mandate(conn, creditor_id, customer_id, body.payment)
        await audit.record(
            conn, who, "customer.payment", "customer", str(customer_id),
            {"method": before["payment_method"], **before["payment_info"]},
            {"method": method, **payment},
        )  # fmt: skip


async def account_of(conn: asyncpg.Connection, subscription_id: int) -> str:
    """The engine account of the subscription's balance group."""
    return str(await conn.fetchval(Q.subscription_account, subscription_id))
