"""Billing profiles: the cycle rule (interval, billing day, anchor month, time zone; the cycle of
every subscription billed to it), payment type, currency, validity, the tax and payment terms of
their invoices; the billing runs keep their pending total and credit balance."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg

from admin_api import audit, catalog
from admin_api.auth import Principal
from admin_api.paging import Keyset, Listed, Paging
from admin_api.schemas import BillingProfileNew, BillingProfilePatch
from tarif_billing.cycles import CycleRule
from tarif_billing.profiles import current_cycle, cycle_rule
from tarif_common.errors import Conflict, Duplicate, InvalidRequest, NotFound
from tarif_postgres import queries

Q = queries.load("billing_profiles")
CUSTOMERS = queries.load("customers")
INVOICES = queries.load("invoices")


PROFILES = Keyset("billing-profiles", "id", 0)


async def list_profiles(conn: asyncpg.Connection, customer_id: int, page: Paging) -> Listed:
    if await conn.fetchval(CUSTOMERS.customer_exists, customer_id) is None:
        raise NotFound(f"no customer {customer_id}")
    rows = await conn.fetch(Q.profiles_of_customer, customer_id, PROFILES.after(page), page.limit)
    items, cursor = PROFILES.page(rows, page)
    return [with_cycle(item) for item in items], cursor


def with_cycle(row: Mapping[str, Any]) -> dict[str, Any]:
    """A profile as the API shows it: with the cycle in progress (`cycle_start`, `cycle_end`)."""
    cycle = current_cycle(row, datetime.now(UTC))
    return dict(row) | {"cycle_start": cycle.start, "cycle_end": cycle.end}


def checked_rule(values: Mapping[str, Any], where: str = "body") -> CycleRule:
    """The cycle rule of these profile values, or a 422 naming the field under `where`."""
    try:
        return cycle_rule(values)
    except InvalidRequest as exc:
        raise InvalidRequest(f"{where}.{exc.field}", exc.reason) from None


def check_window(start: Any, end: Any) -> None:
    """A validity window's end comes after its start (either may be open)."""
    if start is not None and end is not None and end <= start:
        raise InvalidRequest("body.valid_to", "must be after valid_from")


async def check_tax(conn: asyncpg.Connection, tax: str | None) -> None:
    """A profile's tax is one of the taxes reference table (422 naming it otherwise)."""
    if tax is not None and await conn.fetchrow(INVOICES.tax_by_name, tax) is None:
        raise InvalidRequest("body.tax", f"no tax {tax!r} (see /v1/taxes)")


async def create(
    conn: asyncpg.Connection, who: Principal, customer_id: int, body: BillingProfileNew
) -> dict[str, Any]:
    published = await catalog.current(conn)
    money = published.resources.get(body.currency)
    if money is None or money.currency is None:
        raise InvalidRequest("body.currency", f"{body.currency!r} is not a money resource")
    check_window(body.valid_from, body.valid_to)
    time_zone = body.time_zone or published.timezone
    checked_rule(body.model_dump() | {"time_zone": time_zone})
    await check_tax(conn, body.tax)
    async with conn.transaction():
        if await conn.fetchval(CUSTOMERS.customer_exists, customer_id) is None:
            raise NotFound(f"no customer {customer_id}")
        try:
            profile_id = await conn.fetchval(
                Q.insert_billing_profile,
                customer_id,
                body.name,
                body.payment_type,
                body.currency,
                body.interval,
                body.billing_day,
                body.anchor_month,
                time_zone,
                body.valid_from,
                body.valid_to,
                body.tax,
                body.payment_terms_days,
            )
        except Duplicate:
            raise Conflict(f"customer {customer_id} has a billing profile {body.name!r}") from None
        created = with_cycle(await conn.fetchrow(Q.billing_profile_by_id, profile_id))
        await audit.record(
            conn, who, "billing_profile.create", "customer", str(customer_id), None,
            body.model_dump(mode="json"),
        )  # fmt: skip
    return created


async def update(
    conn: asyncpg.Connection,
    who: Principal,
    customer_id: int,
    profile_id: int,
    body: BillingProfilePatch,
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidRequest("body", "nothing to change")
    for name in ("interval", "billing_day", "anchor_month", "time_zone"):
        if name in changes and changes[name] is None:
            raise InvalidRequest(f"body.{name}", "cannot be removed")
    async with conn.transaction():
        before = await conn.fetchrow(Q.lock_billing_profile, profile_id, customer_id)
        if before is None:
            raise NotFound(f"customer {customer_id} has no billing profile {profile_id}")
        start = changes.get("valid_from", before["valid_from"])
        end = changes.get("valid_to", before["valid_to"])
        check_window(start, end)
        rule = checked_rule(dict(before) | changes)
        await check_tax(conn, changes.get("tax"))
        await conn.execute(
            Q.update_billing_profile,
            profile_id,
            rule.interval,
            rule.day,
            rule.anchor_month,
            rule.time_zone,
            start,
            end,
            changes.get("tax", before["tax"]),
            changes.get("payment_terms_days", before["payment_terms_days"]),
        )
        after = with_cycle(await conn.fetchrow(Q.billing_profile_by_id, profile_id))
        await audit.record(
            conn, who, "billing_profile.update", "customer", str(customer_id),
            {k: before[k] for k in changes}, body.model_dump(mode="json", exclude_unset=True),
        )  # fmt: skip
    return after
