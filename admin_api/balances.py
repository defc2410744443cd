"""Balances in the back office: live amounts from the engine, new credit/debit balances, and
adjustments the engine applies exactly once (recorded and applied by `tarif_billing.adjustments`,
which the batch's jobs use too).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from admin_api import audit, balance_groups, catalog, outbox
from admin_api.auth import Principal
from admin_api.paging import Keyset, Listed, Paging
from admin_api.schemas import Adjustment, NewBalance
from tarif_balances.store import RedisBalanceStore
from tarif_billing import adjustments as engine_adjustments
from tarif_billing.cycles import CycleRule, cycle_at
from tarif_catalog import Catalog
from tarif_client.engine import Engine, LiveBalance
from tarif_common.errors import Conflict, Duplicate, NotFound, Refused
from tarif_postgres import queries

Q = queries.load("balances")
CUSTOMERS = queries.load("customers")


async def _customer(conn: asyncpg.Connection, customer_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(CUSTOMERS.customer_status, customer_id)
    if row is None:
        raise NotFound(f"no customer {customer_id}")
    return row


async def live(conn: asyncpg.Connection, engine: Engine, customer_id: int) -> list[dict[str, Any]]:
    """The engine's balances now (amounts move with every charge), of every balance group
    that has an active service (the engine is asked through one of them)."""
    await _customer(conn, customer_id)
    groups = await conn.fetch(Q.groups_with_active_service, customer_id)
    published = await catalog.current(conn)
    found = []
    for group in groups:
        for b in await engine.balances(group["identifier"]):
            found.append(_live(published, group["name"], b))
    return found


def _live(published: Catalog, group: str, b: LiveBalance) -> dict[str, Any]:
    resource = published.resources.get(b.resource)
    d = resource.decimals if resource else 0
    return {
        "balance_group": group,
        "id": b.id,
        "resource": b.resource,
        "unit": b.unit,
        "amount": str(Decimal(b.amount).scaleb(-d)),
        "reserved": str(Decimal(b.reserved).scaleb(-d)),
        "available": str(Decimal(b.available).scaleb(-d)),
        "valid_from": b.valid_from,
        "valid_to": b.valid_to,
        "priority": b.priority,
    }


async def create(
    conn: asyncpg.Connection, who: Principal, customer_id: int, body: NewBalance
) -> str:
    published = await catalog.current(conn)
    decimals = engine_adjustments.decimals_of(published, body.resource, "body.resource")
    amount = Decimal(body.amount)
    engine_adjustments.check_exact(amount, decimals, "body.amount")
    if body.kind == "debit":
        amount = -amount
    valid_to = {
        "cycle": cycle_at(CycleRule("monthly", 1, published.timezone), datetime.now(UTC)).end,
        "until": body.valid_to,
        "forever": None,
    }[body.validity]
    async with conn.transaction():
        customer = await _customer(conn, customer_id)
        if customer["status"] == "closed":
            raise Conflict(f"customer {customer_id} is closed")
        group = await balance_groups.resolve(
            conn, customer_id, body.balance_group, "body.balance_group"
        )
        try:
            await conn.execute(
                Q.insert_balance,
                customer_id,
                body.id,
                body.resource,
                amount,
                valid_to,
                body.priority,
                group["id"],
            )
        except Duplicate:
            raise Conflict(f"customer {customer_id} already has a balance {body.id!r}") from None
        await outbox.queue(conn, "account", group["account_id"])
        await audit.record(
            conn, who, "balance.create", "customer", str(customer_id), None,
            body.model_dump(mode="json") | {"amount": str(amount), "valid_to": valid_to},
        )  # fmt: skip
    return str(group["account_id"])


async def request_adjustment(
    conn: asyncpg.Connection, who: Principal, customer_id: int, balance_id: str, body: Adjustment
) -> int:
    """Record an adjustment (pending); a repeated `request_id` returns the first one."""
    return await engine_adjustments.request(
        conn, who, customer_id, balance_id, Decimal(body.amount), body.reason, body.request_id,
        tax=body.tax, tax_provider=body.tax_provider, ledger=body.ledger,
    )  # fmt: skip


async def apply(pool: asyncpg.Pool, store: RedisBalanceStore, adjustment_id: int) -> dict[str, Any]:
    """Have the engine apply a pending adjustment (at most once) and record its answer."""
    return await engine_adjustments.apply(pool, store, adjustment_id)


async def adjustment(conn: asyncpg.Connection, adjustment_id: int) -> dict[str, Any]:
    row = await conn.fetchrow(Q.adjustment_by_id, adjustment_id)
    if row is None:
        raise NotFound(f"no adjustment {adjustment_id}")
    return dict(row)


def refusal(adjustment: dict[str, Any]) -> Refused | None:
    """The problem to answer for an adjustment the engine refused (None when it did not): the
    adjustment stays recorded as `refused` and moved nothing."""
    if adjustment["status"] != "refused":
        return None
    return Refused(
        engine_adjustments.engine_result(adjustment),
        f"the engine refused adjustment {adjustment['id']} ({adjustment['result']}): it is"
        f" kept as refused and changed no balance",
        {"adjustment_id": adjustment["id"], "status": "refused"},
    )


async def apply_pending(pool: asyncpg.Pool, store: RedisBalanceStore) -> int:
    """Adjustments a crash left pending (the housekeeping loop)."""
    return await engine_adjustments.apply_pending(pool, store)


ADJUSTMENTS = Keyset("adjustments", "id", 0)


async def adjustments(conn: asyncpg.Connection, customer_id: int, page: Paging) -> Listed:
    await _customer(conn, customer_id)
    after = ADJUSTMENTS.after(page)
    rows = await conn.fetch(Q.adjustments_of_customer, customer_id, after, page.limit)
    return ADJUSTMENTS.page(rows, page)


LIVE = Keyset("balances", ("balance_group", "id"), ("", ""))


async def live_page(
    conn: asyncpg.Connection, engine: Engine, customer_id: int, page: Paging
) -> Listed:
    """A page of the live balances, by balance group and id. The engine answers an account's
    balances all at once, so the page is cut from its answer (a customer has a handful)."""
    after = LIVE.after(page)
    found = await live(conn, engine, customer_id)
    found.sort(key=lambda b: (b["balance_group"], b["id"]))
    rows = [b for b in found if (b["balance_group"], b["id"]) > after][: page.limit]
    return LIVE.page(rows, page)
