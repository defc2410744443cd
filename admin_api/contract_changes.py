"""Contract change requests: a bought product's quantity, unit price, product or termination
at a future date. The admin API records, lists and cancels them; the contract-change job
applies the due ones (`tarif_billing.contract_changes`). A termination shows at once as the
product's `ends_at`."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from admin_api import audit, catalog
from admin_api.auth import Principal
from admin_api.paging import Keyset, Listed, Paging
from admin_api.schemas import ContractChangeNew
from tarif_common.errors import Conflict, InvalidRequest, NotFound
from tarif_postgres import queries

Q = queries.load("contract_changes")

CHANGES = Keyset("contract-changes", "id", 0)
# the statuses of a product each kind of change may be asked for
CHANGEABLE = {
    "quantity": ("active", "suspended"),
    "price": ("active", "suspended"),
    "product": ("active",),
    "terminate": ("active", "suspended", "scheduled"),
}


async def create(
    conn: asyncpg.Connection, who: Principal, body: ContractChangeNew
) -> dict[str, Any]:
    """Record a change for later (nothing changes now but a termination's `ends_at`); a retry
    with the same `request_id` answers the change it made, one with another change a 409."""
    if body.effective_at <= datetime.now(UTC):
        raise InvalidRequest("body.effective_at", "must be in the future")
    unit_price = None if body.unit_price is None else Decimal(body.unit_price)
    async with conn.transaction():
        purchase = await conn.fetchrow(Q.lock_customer_purchase, body.purchase_id, body.customer_id)
        if purchase is None:
            raise InvalidRequest(
                "body.purchase_id",
                f"customer {body.customer_id} has no product {body.purchase_id}",
            )
        earlier = await conn.fetchrow(Q.contract_change_of_request, body.request_id)
        if earlier is not None:
            asked = (body.customer_id, body.purchase_id, body.kind, body.quantity, unit_price,
                     body.product, body.effective_at)  # fmt: skip
            made = tuple(earlier[k] for k in ("customer_id", "purchase_id", "kind", "quantity",
                                              "unit_price", "product", "effective_at"))  # fmt: skip
            if asked != made:
                raise Conflict(f"request_id {body.request_id!r} made another change")
            return await get(conn, earlier["id"])
        await _check(conn, body, purchase)
        change_id = await conn.fetchval(
            Q.insert_contract_change, body.request_id, body.customer_id,
            purchase["subscription_id"], body.purchase_id, body.kind, body.quantity, unit_price,
            body.product, body.effective_at, who.actor,
        )  # fmt: skip
        if body.kind == "terminate":
            await conn.execute(Q.set_purchase_end, body.purchase_id)
        after = await get(conn, change_id)
        await audit.record(
            conn, who, "contract_change.create", "purchase", str(body.purchase_id), None, after
        )
    return after


async def _check(conn: asyncpg.Connection, body: ContractChangeNew, purchase: Any) -> None:
    """What can be known now: the product can still change, a new product is sold."""
    if purchase["subscription_status"] != "active":
        raise Conflict(f"subscription {purchase['subscription_id']} is not active")
    if purchase["status"] not in CHANGEABLE[body.kind]:
        raise Conflict(f"product {body.purchase_id} is {purchase['status']}")
    if body.kind == "product":
        published = await catalog.current(conn)
        if body.product not in published.products:
            raise InvalidRequest("body.product", f"unknown product {body.product!r}")
        if body.product == purchase["product"]:
            raise InvalidRequest("body.product", f"product {body.purchase_id} is it already")


async def get(conn: asyncpg.Connection, change_id: int) -> dict[str, Any]:
    row = await conn.fetchrow(Q.contract_change_by_id, change_id)
    if row is None:
        raise NotFound(f"no contract change {change_id}")
    return dict(row)


async def page(
    conn: asyncpg.Connection,
    paging: Paging,
    *,
    status: str | None = None,
    customer_id: int | None = None,
    purchase_id: int | None = None,
) -> Listed:
    """One page of change requests, oldest first."""
    rows = await conn.fetch(
        Q.contract_changes_page, status, customer_id, purchase_id, CHANGES.after(paging),
        paging.limit,
    )  # fmt: skip
    return CHANGES.page(rows, paging)


async def cancel(conn: asyncpg.Connection, who: Principal, change_id: int) -> dict[str, Any]:
    """A scheduled change will not be applied (one done, failed or cancelled: 409)."""
    async with conn.transaction():
        row = await conn.fetchrow(Q.lock_contract_change, change_id)
        if row is None:
            raise NotFound(f"no contract change {change_id}")
        if row["status"] != "scheduled":
            raise Conflict(f"contract change {change_id} is {row['status']}")
        await conn.execute(Q.cancel_contract_change, change_id)
        if row["kind"] == "terminate":
            await conn.execute(Q.set_purchase_end, row["purchase_id"])
        after = await get(conn, change_id)
        await audit.record(
            conn, who, "contract_change.cancel", "purchase", str(row["purchase_id"]),
            {"change": change_id, "status": "scheduled"}, {"status": "cancelled"},
        )  # fmt: skip
    return after
