"""Balances in the back office: live amounts from the engine, new credit/debit balances, and
adjustments the engine applies exactly once.

An adjustment is a change, not a state, so it does not ride the outbox: it is recorded in
Postgres first (`pending`, with the caller's idempotency key), then applied by the engine under
the adjustment's own id (a Redis idempotency key), then marked applied or refused. A crash in
between leaves it pending and the housekeeping loop applies it: at most once in Redis.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from admin_api import audit, balance_groups, catalog, outbox
from admin_api.auth import Principal
from admin_api.paging import Keyset, Listed, Paging
from admin_api.schemas import Adjustment, NewBalance
from tarif_balances.store import RedisBalanceStore
from tarif_catalog import Catalog
from tarif_client.engine import Engine, LiveBalance
from tarif_common.errors import Conflict, Duplicate, InvalidRequest, NotFound, Refused
from tarif_common.results import Result
from tarif_postgres import queries

Q = queries.load("balances")
CUSTOMERS = queries.load("customers")


async def _customer(conn: asyncpg.Connection, customer_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(CUSTOMERS.customer_status, customer_id)
    if row is None:
        raise NotFound(f"no customer {customer_id}")
    return row


def _decimals(published: Catalog, resource: str, field: str) -> int:
    found = published.resources.get(resource)
    if found is None:
        raise InvalidRequest(field, f"unknown resource {resource!r}")
    return found.decimals


def _exact(amount: Decimal, decimals: int, field: str) -> None:
    if amount != amount.quantize(Decimal(1).scaleb(-decimals)):
        raise InvalidRequest(field, f"has more than {decimals} decimals")


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


def cycle_end(timezone: str, now: datetime) -> datetime:
    """The start of next month in the catalog's time zone: the engine's billing cycle."""
    local = now.astimezone(zoneinfo.ZoneInfo(timezone))
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, tzinfo=local.tzinfo).astimezone(UTC)


async def create(
    conn: asyncpg.Connection, who: Principal, customer_id: int, body: NewBalance
) -> str:
    published = await catalog.current(conn)
    decimals = _decimals(published, body.resource, "body.resource")
    amount = Decimal(body.amount)
    _exact(amount, decimals, "body.amount")
    if body.kind == "debit":
        amount = -amount
    valid_to = {
        "cycle": cycle_end(published.timezone, datetime.now(UTC)),
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
    amount = Decimal(body.amount)
    if amount == 0:
        raise InvalidRequest("body.amount", "must not be zero")
    async with conn.transaction():
        await _customer(conn, customer_id)
        resource = await conn.fetchval(Q.balance_resource, customer_id, balance_id)
        if resource is None:
            raise NotFound(f"customer {customer_id} has no balance {balance_id!r}")
        _exact(amount, _decimals(await catalog.current(conn), resource, "body"), "body.amount")
        for field, known, value in (
            ("tax", Q.tax_exists, body.tax),
            ("ledger", Q.ledger_exists, body.ledger),
        ):
            if value is not None and not await conn.fetchval(known, value):
                raise InvalidRequest(f"body.{field}", f"unknown {field} {value!r}")
        adjustment_id = await conn.fetchval(
            Q.insert_adjustment,
            body.request_id,
            customer_id,
            balance_id,
            amount,
            body.reason,
            body.tax,
            body.tax_provider,
            body.ledger,
            who.actor,
        )
        if adjustment_id is None:
            first = await conn.fetchrow(Q.adjustment_of_request, body.request_id)
            if (first["customer_id"], first["balance_id"], first["amount"]) != (
                customer_id, balance_id, amount,
            ):  # fmt: skip
                raise Conflict(f"request_id {body.request_id!r} was used for another adjustment")
            return int(first["id"])
        await audit.record(
            conn, who, "balance.adjust", "customer", str(customer_id), None,
            body.model_dump(mode="json") | {"balance_id": balance_id, "id": adjustment_id},
        )  # fmt: skip
    return int(adjustment_id)


async def apply(pool: asyncpg.Pool, store: RedisBalanceStore, adjustment_id: int) -> dict[str, Any]:
    """Have the engine apply a pending adjustment (at most once) and record its answer."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(Q.adjustment_to_apply, adjustment_id)
        if row is None:
            raise NotFound(f"no adjustment {adjustment_id}")
        if row["status"] == "pending":
            decimals = _decimals(await catalog.current(conn), row["resource"], "resource")
            units = int(row["amount"].scaleb(decimals))
            answer = await store.adjust(
                row["account_id"],
                row["balance_id"],
                units,
                str(adjustment_id),
                row["reason"],
                int(datetime.now(UTC).timestamp() * 1000),
            )
            result = answer.result
            after = (
                Decimal(answer.amount_after).scaleb(-decimals)
                if answer.amount_after is not None
                else None
            )
            if result is Result.USER_UNKNOWN:  # the engine has no account yet: retried later
                await conn.execute(
                    Q.note_adjustment_retry,
                    adjustment_id,
                    f"{result.name}: {answer.message} (will retry)",
                )
                return dict(await conn.fetchrow(Q.adjustment_by_id, adjustment_id))
            await conn.execute(
                Q.finish_adjustment,
                adjustment_id,
                "applied" if result is Result.SUCCESS else "refused",
                result.name if result is Result.SUCCESS else f"{result.name}: {answer.message}",
                after if result is Result.SUCCESS else None,
            )
        found = await conn.fetchrow(Q.adjustment_by_id, adjustment_id)
        return dict(found)


async def adjustment(conn: asyncpg.Connection, adjustment_id: int) -> dict[str, Any]:
    row = await conn.fetchrow(Q.adjustment_by_id, adjustment_id)
    if row is None:
        raise NotFound(f"no adjustment {adjustment_id}")
    return dict(row)


def engine_result(adjustment: dict[str, Any]) -> Result:
    """The engine's result of an answered adjustment (its `result` is `NAME: message`)."""
    name = str(adjustment["result"] or "").partition(":")[0]
    return Result.__members__.get(name, Result.CONFLICT)


def refusal(adjustment: dict[str, Any]) -> Refused | None:
    """The problem to answer for an adjustment the engine refused (None when it did not): the
    adjustment stays recorded as `refused` and moved nothing."""
    if adjustment["status"] != "refused":
        return None
    return Refused(
        engine_result(adjustment),
        f"the engine refused adjustment {adjustment['id']} ({adjustment['result']}): it is"
        f" kept as refused and changed no balance",
        {"adjustment_id": adjustment["id"], "status": "refused"},
    )


async def apply_pending(pool: asyncpg.Pool, store: RedisBalanceStore) -> int:
    """Adjustments a crash left pending (the housekeeping loop)."""
    ids = [r["id"] for r in await pool.fetch(Q.pending_adjustments)]
    for adjustment_id in ids:
        await apply(pool, store, adjustment_id)
    return len(ids)


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
