"""A bought product's terms after the purchase: its quantity, unit price, what it grants and
when it ends. The admin API (modify, cancel), the contract-change job and the purchase-check
job all change a purchase through here, so it is priced and ended one way.

Prices come from `tarif_catalog.pricing.price_line` with the unit price and the discount terms
kept with the purchase: changing 2 to 3 costs what buying 3 at once would have. The new price
counts from the next charge (a bill, a renewal). What the purchase grants moves by the
difference at once, through an adjustment the engine applies once."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import asyncpg

from tarif_billing import adjustments
from tarif_billing.published import published_catalog
from tarif_billing.purchasing import breakdown
from tarif_catalog.pricing import price_line, terms_from_json
from tarif_common.errors import InvalidRequest
from tarif_postgres import changes, queries

Q = queries.load("purchases")


async def change_terms(
    conn: asyncpg.Connection,
    who: changes.Actor,
    row: asyncpg.Record,
    request_id: str,
    *,
    quantity: int | None = None,
    unit_price: Decimal | None = None,
    value: Decimal | None = None,
    valid_to: datetime | None = None,
) -> int | None:
    """New terms for the locked purchase `row` (a `lock_purchase` row; None keeps a term),
    inside the caller's transaction. Returns the adjustment that moves its granted balance by
    the difference (settle it after the commit), or None when the grant did not change."""
    published = await published_catalog(conn)
    quantity = quantity if quantity is not None else row["quantity"]
    unit_price = unit_price if unit_price is not None else row["unit_price"]
    line = price_line(
        row["product"],
        unit_price,
        quantity,
        terms_from_json(row["discount_terms"]),
        published.resources[row["currency"]].decimals,
    )
    adjustment = None
    granted = row["granted"]
    if row["balance_id"] is not None:
        value = value if value is not None else row["value"]
        assert value is not None
        decimals = published.resources[row["resource"]].decimals
        if value <= 0 or value != value.quantize(Decimal(1).scaleb(-decimals)):
            raise InvalidRequest("body.value", f"must be > 0 with at most {decimals} decimals")
        granted = value * quantity
        if granted != row["granted"]:
            adjustment = await adjustments.request(
                conn,
                who,
                row["customer_id"],
                row["balance_id"],
                granted - row["granted"],
                f"product {row['id']} modified",
                request_id,
            )
    valid_to = valid_to or row["valid_to"]
    await conn.execute(
        Q.update_purchase_terms, row["id"], quantity,
        None if granted is None else granted / quantity, granted, line.list_price,
        line.discount, line.price, breakdown(line), valid_to, unit_price,
    )  # fmt: skip
    if row["balance_id"] is not None:
        # the provisioned amount stays: the adjustment's rated record carries the change,
        # so `tarif sync` (provisioned + recorded movements) counts it once
        await conn.execute(Q.set_balance_end, row["customer_id"], row["balance_id"], valid_to)
    await changes.queue(conn, "account", row["account_id"])
    return adjustment


async def end_purchase(conn: asyncpg.Connection, row: asyncpg.Record, at: datetime) -> None:
    """Cancel the locked purchase `row` as of `at`: no more charges or renewals (its arrears
    fees stop there), its services stop at once, what it granted stays usable until its end."""
    await conn.execute(Q.cancel_purchase, row["id"], at)
    await conn.execute(Q.delete_services_of_purchase, row["id"])
    await changes.queue(conn, "account", row["account_id"])
