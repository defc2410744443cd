"""Customers in Postgres: onboarding (all or nothing), listing and search, details, changes.

Every change runs in one transaction with its audit record and, when the engine must see it, an
outbox row; the caller then lets the relay bring Redis up to date.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from admin_api import (
    audit,
    balance_groups,
    billing_profiles,
    bills,
    catalog,
    csvout,
    hierarchy,
    outbox,
    sepa,
    sharing,
    subscriptions,
)
from admin_api.auth import Principal
from admin_api.paging import (
    Listing,
    Order,
    Select,
    SortField,
    id_value,
    next_cursor,
    order,
    text_value,
)
from admin_api.schemas import AccountPatch, Onboarding, check_attribute, payment_info
from tarif_common.errors import Conflict, Duplicate, InvalidRequest, NotFound
from tarif_common.redis_client import RedisClient
from tarif_common.settings import Settings
from tarif_notifications import store
from tarif_notifications.store import Contact
from tarif_postgres import queries

Q = queries.load("customers")
PROFILES = queries.load("billing_profiles")

ACCOUNT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "customer_type",
    "address",
    "city",
    "state",
    "country",
    "organisation",
    "postcode",
    "custom_attributes",
)


SORTS = {
    "id": SortField("c.id", id_value),
    "last_name": SortField("lower(c.last_name)", text_value),
    "city": SortField("lower(c.city)", text_value),
    "country": SortField("c.country", text_value),
    "created_at": SortField("c.created_at", datetime.fromisoformat, lambda v: v.isoformat()),
}


async def _check_reference(conn: asyncpg.Connection, info: Mapping[str, Any], where: str) -> None:
    """The customer type exists; custom attributes are declared and of their declared type.

    One round trip: onboarding runs it for every customer."""
    row = await conn.fetchrow(Q.customer_type_and_attributes, info.get("customer_type"))
    if info.get("customer_type") is not None and not row["known"]:
        raise InvalidRequest(f"{where}.customer_type", f"unknown type {info['customer_type']!r}")
    attributes = info.get("custom_attributes")
    if attributes is None:
        return
    declared = {d["name"]: d for d in row["declared"]}
    for name, value in attributes.items():
        if name not in declared:
            raise InvalidRequest(f"{where}.custom_attributes.{name}", "is not a declared attribute")
        if reason := check_attribute(name, declared[name]["type"], value):
            raise InvalidRequest(f"{where}.custom_attributes.{name}", reason)
    for name, d in declared.items():
        if d["required"] and name not in attributes:
            raise InvalidRequest(f"{where}.custom_attributes.{name}", "is required")


async def onboard(
    conn: asyncpg.Connection,
    redis: RedisClient,
    who: Principal,
    request: Onboarding,
    *,
    creditor_id: str,
) -> tuple[int, str, list[int]]:
    """Create the customer, its first balance group, subscription, services, balances,
    contacts and SEPA mandate (`creditor_id`: TARIF_SEPA_CREDITOR_ID, may be ''); returns its
    id, the engine account id and the payments to settle after the commit. Nothing is written
    when a part is wrong."""
    info = request.account.model_dump()
    await _check_reference(conn, info, "body.account")
    # the subscription's interval and day make the default profile's cycle (catalog time zone)
    first_profile = {
        "interval": request.subscription.interval or "monthly",
        "billing_day": request.subscription.billing_day or 1,
        "time_zone": (await catalog.current(conn)).timezone,
    }
    rule = billing_profiles.checked_rule(first_profile, "body.subscription")
    async with conn.transaction():
        customer_id: int = await conn.fetchval(Q.next_customer_id)
        account_id = request.account_id or f"C{customer_id}"
        s = request.subscription
        payment = payment_info(request.payment)
        try:
            await conn.execute(
                Q.insert_customer,
                customer_id,
                account_id,
                info["customer_type"],
                info["first_name"],
                info["last_name"],
                info["email"],
                info["phone"],
                info["organisation"],
                info["address"],
                info["city"],
                info["state"],
                info["postcode"],
                info["country"],
                info["custom_attributes"],
                payment.pop("method"),
                payment,
            )
        except Duplicate:
            raise Conflict(f"account id {account_id!r} is taken") from None
        await sepa.write_mandate(conn, creditor_id, customer_id, request.payment)
        profile_id: int = await conn.fetchval(
            PROFILES.insert_first_billing_profile,
            customer_id,
            s.payment_type,
            s.currency,
            rule.interval,
            rule.day,
            rule.anchor_month,
            rule.time_zone,
        )
        group_id = await balance_groups.insert(
            conn, customer_id, s.balance_group or "main", account_id, profile_id
        )
        opened = await subscriptions.open_subscription(
            conn, redis, customer_id, group_id, account_id, s, "body.subscription",
            new_money=True,
        )  # fmt: skip
        await store.add_contacts(conn, account_id, [Contact.of(c) for c in request.contacts])
        if request.sharing is not None:
            # queued after the account: the relay writes the account first, then the group
            await sharing.join_new(conn, request.sharing.group, customer_id, request.sharing.status)
        if request.hierarchy is not None:
            await hierarchy.join_new(conn, request.hierarchy.group, customer_id)
        await audit.record(
            conn, who, "customer.onboard", "customer", str(customer_id), None,
            request.model_dump(mode="json"),
        )  # fmt: skip
    return customer_id, account_id, opened.adjustments


# -- reading ---------------------------------------------------------------------------------


def search_words(text: str) -> str | None:
    """Free text as a prefix tsquery: `ana nov` -> `ana:* & nov:*` (letters and digits only)."""
    words = re.findall(r"\w+", text.lower())[:10]
    return " & ".join(f"{w}:*" for w in words) or None


def _like_prefix(value: str) -> str:
    return re.sub(r"([\\%_])", r"\\\1", value.lower()) + "%"


def apply_filters(select: Select, filters: Mapping[str, str | None]) -> None:
    if (q := filters.get("q")) and (words := search_words(q)):
        select.where("c.search @@ to_tsquery('simple', {})", words)
    if value := filters.get("full_name"):
        select.where("lower(c.full_name) LIKE {}", _like_prefix(value))
    if value := filters.get("email"):
        select.where("lower(c.email) LIKE {}", _like_prefix(value))
    if (value := filters.get("address")) and (words := search_words(value)):
        select.where("c.search @@ to_tsquery('simple', {})", words)
    if value := filters.get("city"):
        select.where("lower(c.city) = {}", value.lower())
    for name in ("country", "status", "customer_type", "payment_method"):
        if value := filters.get(name):
            select.where(f"c.{name} = {{}}", value)
    # the ids the engine and the CLI show: an engine account, a service identifier
    if value := filters.get("account_id"):
        select.where(Q.filter_by_account, value)
    if value := filters.get("service"):
        select.where(Q.filter_by_service, value)


def page_query(select: Select, chosen: Order, limit: int) -> str:
    """The page's statement: whitelisted conditions and order, the page size as an integer."""
    return queries.compose(
        Q.customers_page,
        sort_key=chosen.expression,
        where=select.where_sql(),
        order=chosen.sql,
        limit=f"{limit:d}",
    )


async def list_customers(
    conn: asyncpg.Connection, listing: Listing, filters: Mapping[str, str | None]
) -> tuple[list[dict[str, Any]], str | None]:
    select = Select()
    apply_filters(select, filters)
    chosen: Order = order(select, listing, SORTS, "id", "c.id")
    rows = await conn.fetch(page_query(select, chosen, listing.limit), *select.params)
    items = [dict(r) for r in rows]
    cursor = next_cursor(items, listing.limit, chosen, "id")
    for item in items:
        item.pop("sort_key")
    return items, cursor


CSV_COLUMNS = [
    "id", "account_id", "status", "customer_type", "first_name", "last_name", "email", "phone",
    "organisation", "address", "city", "state", "postcode", "country", "payment_method",
    "created_at",
]  # fmt: skip


# what `include` may add to the export: one column each, the values joined by "; "
CSV_HOLDINGS = ("subscriptions", "services")


async def export_csv(
    pool: asyncpg.Pool,
    filters: Mapping[str, str | None],
    sort: str | None,
    include: Sequence[str] = (),
) -> AsyncIterator[str]:
    """Every matching customer as CSV, one row each, streamed from a server-side cursor;
    `include` adds the plans of its subscriptions and its services in use as columns."""
    select = Select()
    apply_filters(select, filters)
    chosen = order(select, Listing(1, None, sort), SORTS, "id", "c.id")
    base = Q.customers_export_with_holdings if include else Q.customers_export
    query = queries.compose(base, where=select.where_sql(), order=chosen.sql)
    columns = CSV_COLUMNS + [name for name in CSV_HOLDINGS if name in include]
    yield csvout.lines([columns])
    async with pool.acquire() as conn, conn.transaction():
        batch: list[Any] = []
        async for row in conn.cursor(query, *select.params, prefetch=2000):
            batch.append([csvout.cell(row[name]) for name in columns])
            if len(batch) >= 2000:
                yield csvout.lines(batch)
                batch = []
        if batch:
            yield csvout.lines(batch)


async def get_customer(conn: asyncpg.Connection, customer_id: int) -> dict[str, Any]:
    """Everything about one customer, in one query."""
    row = await conn.fetchrow(Q.customer_detail, customer_id)
    if row is None:
        raise NotFound(f"no customer {customer_id}")
    return {
        "id": row["id"],
        "account_id": row["account_id"],
        "status": row["status"],
        "account": {name: row[name] for name in ACCOUNT_FIELDS} | {"full_name": row["full_name"]},
        "payment": {"method": row["payment_method"], **row["payment_info"]},
        "contacts": row["contacts"],
        "subscriptions": row["subscriptions"],
        "balances": row["balances"],
        "balance_groups": row["balance_groups"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "closed_at": row["closed_at"],
        "delete_after": row["delete_after"],
        "engine": "pending" if row["pending"] else "synced",
        # the engine is asked only by the details (admin_api.details)
        "balances_source": "provisioned",
        "balances_note": "amounts as provisioned: the customer's details (GET) show them live",
    }


async def get_subscription(
    conn: asyncpg.Connection, customer_id: int, subscription_id: int
) -> dict[str, Any]:
    """One subscription as the customer's details show it."""
    detail = await get_customer(conn, customer_id)
    for found in detail["subscriptions"]:
        if found["id"] == subscription_id:
            return dict(found)
    raise NotFound(f"customer {customer_id} has no subscription {subscription_id}")


async def _locked(conn: asyncpg.Connection, customer_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(Q.lock_customer, customer_id)
    if row is None:
        raise NotFound(f"no customer {customer_id}")
    return row


async def update_account(
    conn: asyncpg.Connection, who: Principal, customer_id: int, patch: AccountPatch
) -> list[str]:
    changes = patch.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidRequest("body", "nothing to change")
    required = set(ACCOUNT_FIELDS) - {"organisation", "postcode", "custom_attributes"}
    for name in required & changes.keys():
        if changes[name] is None:
            raise InvalidRequest(f"body.{name}", "cannot be removed")
    if changes.get("custom_attributes", ...) is None:
        changes["custom_attributes"] = {}
    await _check_reference(conn, changes, "body")
    async with conn.transaction():
        row = await _locked(conn, customer_id)
        if row["status"] in ("closed", "deleted"):
            raise Conflict(f"customer {customer_id} is {row['status']}")
        select = Select()
        select.bind(customer_id)
        # column names are AccountPatch's fields (it refuses others); every value is bound
        assignments = ", ".join(f"{name} = {select.bind(value)}" for name, value in changes.items())
        await conn.execute(
            queries.compose(Q.update_customer, assignments=assignments), *select.params
        )
        before = {name: row[name] for name in changes}
        accounts = await outbox.queue_customer(conn, customer_id) if "status" in changes else []
        await audit.record(
            conn, who, "customer.update", "customer", str(customer_id), before, changes
        )
    return accounts


async def close_account(
    conn: asyncpg.Connection, who: Principal, customer_id: int, settings: Settings
) -> list[str]:
    """Closed now (the engine refuses its usage); deleted by a later job after the retention,
    once nothing is due. Its postpaid charges so far are billed now, in the same transaction,
    so closing never leaves usage unbilled."""
    async with conn.transaction():
        row = await _locked(conn, customer_id)
        if row["status"] in ("closed", "deleted"):
            raise Conflict(f"customer {customer_id} is already {row['status']}")
        invoices = await bills.bill_at_closing(conn, settings, customer_id)
        now = datetime.now(UTC)
        await conn.execute(
            Q.close_customer,
            customer_id,
            now,
            now + timedelta(days=settings.closed_retention_days),
        )
        accounts = await outbox.queue_customer(conn, customer_id)
        await audit.record(
            conn, who, "customer.close", "customer", str(customer_id),
            {"status": row["status"]}, {"status": "closed", "invoices": invoices},
        )  # fmt: skip
    return accounts


async def account_of(conn: asyncpg.Connection, customer_id: int) -> str:
    account_id = await conn.fetchval(Q.customer_account_id, customer_id)
    if account_id is None:
        raise NotFound(f"no customer {customer_id}")
    return str(account_id)


async def accounts_of(conn: asyncpg.Connection, customer_id: int) -> list[str]:
    """The engine accounts of the customer's balance groups, its first one first."""
    accounts = await conn.fetchval(Q.customer_accounts, customer_id)
    if accounts is None:
        raise NotFound(f"no customer {customer_id}")
    return [a for a in accounts if a is not None]
