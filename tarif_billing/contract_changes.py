"""Contract change requests applied when due (the contract-change job): a purchase's quantity,
its unit price, its product, or its termination, at a date.

Each change takes effect at its `effective_at`, however late the job ran; changes of one
purchase apply in the order of their effective times. Prices always come from
`tarif_catalog.pricing.price_line` with the discount terms kept with the purchase (the one
discount function):
- **quantity**, **price**: the purchase's new quantity or unit price (`terms.change_terms`):
  its price counts from the next charge, what it grants moves by the difference at once;
- **product**: the purchase is cancelled and the new product bought in its place on the same
  subscription, with the same quantity and discount terms at the catalog's unit price; service
  identifiers move to it when it serves the same service type (else they stay with the
  subscription); prepaid, it is paid at once like any purchase;
- **terminate**: the purchase is cancelled (its `ends_at`, set when the request was made, shows
  it until then).
One that cannot be applied (the product left the catalog, the purchase is no longer active,
the balance has no money to pay from) is `failed` with the reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from tarif_billing import purchasing, terms
from tarif_billing.cycles import cycle_at
from tarif_billing.published import published_catalog
from tarif_catalog import Catalog
from tarif_catalog.model import MICROS_PER_UNIT
from tarif_catalog.pricing import price_line, terms_from_json
from tarif_common.errors import Conflict, InvalidRequest
from tarif_postgres import changes, queries

Q = queries.load("contract_changes")
P = queries.load("purchases")
S = queries.load("subscriptions")


@dataclass(frozen=True, slots=True)
class Changed:
    """What became of one due change."""

    status: str  # done, failed; scheduled: left for a later run
    reason: str = ""
    account_id: str = ""
    adjustment_id: int | None = None  # a grant moved, or a prepaid payment: settle it
    new_purchase_id: int | None = None


async def due_changes(
    conn: asyncpg.Connection,
    at: datetime,
    where: tuple[str, list[object]],
    after: tuple[datetime, int],
    limit: int,
    only: list[int] | None,
) -> list[tuple[datetime, int]]:
    """(effective time, id) of the scheduled changes due by `at` of the customers `where`
    selects (a condition on `customers c` with its values from $6), in the order they apply,
    after `after`, at most `limit`."""
    condition, args = where
    rows = await conn.fetch(
        queries.compose(Q.due_contract_changes, where=condition),
        at, after[0], after[1], limit, only, *args,
    )  # fmt: skip
    return [(r["effective_at"], r["id"]) for r in rows]


async def apply_change(conn: asyncpg.Connection, change_id: int, at: datetime) -> Changed | None:
    """Apply one due change in its own transaction (None: no longer scheduled, or another
    worker holds it)."""
    async with conn.transaction():
        change = await conn.fetchrow(Q.lock_due_contract_change, change_id, at)
        if change is None:
            return None
        waits = await conn.fetchval(
            Q.earlier_change_waits, change["purchase_id"], change["effective_at"], change_id
        )
        if waits:
            return Changed("scheduled", "an earlier change of the same product is not applied")
        row = await conn.fetchrow(Q.lock_purchase_to_change, change["purchase_id"])
        account = str(row["account_id"])
        effective = change["effective_at"]
        try:
            async with conn.transaction():  # a savepoint: a failure undoes it all
                changed = await _apply(conn, change, row, effective)
        except (InvalidRequest, Conflict) as exc:
            reason = exc.reason if isinstance(exc, InvalidRequest) else exc.message
            changed = Changed("failed", reason)
        await conn.execute(
            Q.close_contract_change, change_id, changed.status, changed.reason, at,
            changed.new_purchase_id, changed.adjustment_id,
        )  # fmt: skip
        if changed.status == "done":
            await conn.execute(Q.set_purchase_end, change["purchase_id"])
            await changes.audit(
                conn, changes.SYSTEM, f"contract_change.{change['kind']}", "purchase",
                str(change["purchase_id"]), {"change": change_id},
                {"new_purchase": changed.new_purchase_id, "adjustment": changed.adjustment_id},
            )  # fmt: skip
    return Changed(
        changed.status, changed.reason, account, changed.adjustment_id, changed.new_purchase_id
    )


async def _apply(
    conn: asyncpg.Connection, change: asyncpg.Record, row: asyncpg.Record, at: datetime
) -> Changed:
    kind = change["kind"]
    if kind == "terminate":
        if row["status"] == "cancelled":  # ended already (the purchase check reached its end)
            return Changed("done", "the product had ended")
        if row["status"] not in ("active", "suspended", "scheduled"):
            raise InvalidRequest("purchase_id", f"product {row['id']} is {row['status']}")
        await terms.end_purchase(conn, row, at)
        return Changed("done")
    if row["subscription_status"] != "active":
        raise InvalidRequest(
            "purchase_id",
            f"the subscription of product {row['id']} is {row['subscription_status']}",
        )
    if row["status"] not in ("active", "suspended"):
        raise InvalidRequest("purchase_id", f"product {row['id']} is {row['status']}")
    request_id = f"contract-change-{change['id']}"
    if kind == "quantity":
        moved = await terms.change_terms(conn, changes.SYSTEM, row, request_id,
                                         quantity=change["quantity"])  # fmt: skip
        return Changed("done", adjustment_id=moved)
    if kind == "price":
        moved = await terms.change_terms(conn, changes.SYSTEM, row, request_id,
                                         unit_price=change["unit_price"])  # fmt: skip
        return Changed("done", adjustment_id=moved)
    return await _replace(conn, await published_catalog(conn), change, row, at, request_id)


async def _replace(
    conn: asyncpg.Connection,
    published: Catalog,
    change: asyncpg.Record,
    row: asyncpg.Record,
    at: datetime,
    request_id: str,
) -> Changed:
    """The purchase's product replaced by another, from `at`."""
    product = published.products.get(change["product"])
    if product is None:
        raise InvalidRequest("product", f"{change['product']!r} is not in the catalog")
    if product.name == row["product"]:
        raise InvalidRequest("product", f"product {row['id']} is {product.name!r} already")
    if row["status"] != "active":
        raise InvalidRequest("purchase_id", f"product {row['id']} is {row['status']}")
    await conn.execute(P.cancel_purchase, row["id"], at)
    identifiers = [r["identifier"] for r in await conn.fetch(S.detach_services, row["id"])]
    old = published.products.get(row["product"])
    same_service = (
        product.service is not None and old is not None and old.service == product.service
    )
    carried = identifiers if same_service else []  # the others stay with the subscription
    if (
        product.service is not None
        and not carried
        and not await conn.fetch(S.services_without_purchase, row["subscription_id"])
    ):
        raise InvalidRequest("product", f"{product.name!r} needs service identifiers")
    line = price_line(
        product.name,
        Decimal(product.price_micros) / MICROS_PER_UNIT,
        row["quantity"],
        terms_from_json(row["discount_terms"]),
        published.resources[row["currency"]].decimals,
    )
    granted = None
    if product.grants is not None:
        decimals = published.resources[product.grants.resource].decimals
        value = Decimal(product.grants.amount).scaleb(-decimals)
        granted = (product.grants.resource, value * row["quantity"])
    sub = purchasing.Subscription(
        row["subscription_id"], row["customer_id"], row["balance_group_id"], row["account_id"],
        row["plan"], row["payment_type"], row["currency"],
    )  # fmt: skip
    period = cycle_at(await purchasing.group_rule(conn, sub.group_id, published), at)
    prepaid = sub.payment_type == "prepaid" and line.price > 0
    status = "pending" if prepaid else "active"
    placed = purchasing.Placed(at, purchasing.grant_end(product, period, at), status, period)
    new_id = await purchasing.insert(
        conn, sub, row["origin"], row["offer"], line, product, granted, placed, row["coupons"],
        waives_connect_fee=row["waives_connect_fee"],
    )  # fmt: skip
    if carried:
        await conn.execute(P.move_services_to_purchase, carried, new_id,
                           "active" if status == "active" else "suspended")  # fmt: skip
    adjustment = None
    if prepaid:
        adjustment = await purchasing.payment(
            conn, changes.SYSTEM, sub, [new_id], line.price,
            f"contract change {change['id']}: {product.name}", "product", request_id=request_id,
        )  # fmt: skip
    else:
        await purchasing.activate(conn, [new_id])
    await changes.queue(conn, "account", sub.account_id)
    return Changed("done", adjustment_id=adjustment, new_purchase_id=new_id)
