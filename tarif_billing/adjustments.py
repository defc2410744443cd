"""Balance adjustments: a change of one balance that the engine applies exactly once.

An adjustment is a change, not a state, so it does not ride the outbox: it is recorded in
Postgres first (`pending`, with the caller's idempotency key), then applied by the engine under
the adjustment's own id (a Redis idempotency key), then marked applied or refused. A crash in
between leaves it pending and the admin process' housekeeping applies it: at most once in
Redis. The admin API (back-office adjustments, prepaid payments) and the batch's jobs (prepaid
renewals and activations) both go through here; the engine's atomic step is behind `Adjuster`
(`tarif_balances.store.RedisBalanceStore` in the processes)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import asyncpg

from tarif_billing.published import published_catalog
from tarif_catalog import Catalog
from tarif_common.errors import Conflict, InvalidRequest, NotFound
from tarif_common.results import Result
from tarif_postgres import changes, queries

Q = queries.load("balances")
CUSTOMERS = queries.load("customers")


class AdjustAnswer(Protocol):
    """What the engine answered (`tarif_balances.ports.AdjustOutcome`)."""

    @property
    def result(self) -> Result: ...

    @property
    def amount_after(self) -> int | None: ...

    @property
    def message(self) -> str: ...


class Adjuster(Protocol):
    """The engine's adjustment step: add `delta` (smallest units) to one balance, once per
    `request_id`, never below its floor."""

    async def adjust(
        self,
        account_id: str,
        balance_id: str,
        delta: int,
        request_id: str,
        reason: str,
        now_ms: int,
    ) -> AdjustAnswer: ...


def decimals_of(published: Catalog, resource: str, field: str) -> int:
    found = published.resources.get(resource)
    if found is None:
        raise InvalidRequest(field, f"unknown resource {resource!r}")
    return found.decimals


def check_exact(amount: Decimal, decimals: int, field: str) -> None:
    if amount != amount.quantize(Decimal(1).scaleb(-decimals)):
        raise InvalidRequest(field, f"has more than {decimals} decimals")


async def request(
    conn: asyncpg.Connection,
    who: changes.Actor,
    customer_id: int,
    balance_id: str,
    amount: Decimal,
    reason: str,
    request_id: str,
    *,
    tax: str | None = None,
    tax_provider: str | None = None,
    ledger: str | None = None,
) -> int:
    """Record an adjustment (pending); a repeated `request_id` returns the first one (a
    Conflict when it was used for another adjustment)."""
    if amount == 0:
        raise InvalidRequest("body.amount", "must not be zero")
    async with conn.transaction():
        if await conn.fetchrow(CUSTOMERS.customer_status, customer_id) is None:
            raise NotFound(f"no customer {customer_id}")
        resource = await conn.fetchval(Q.balance_resource, customer_id, balance_id)
        if resource is None:
            raise NotFound(f"customer {customer_id} has no balance {balance_id!r}")
        decimals = decimals_of(await published_catalog(conn), resource, "body")
        check_exact(amount, decimals, "body.amount")
        known_names = (("tax", Q.tax_exists, tax), ("ledger", Q.ledger_exists, ledger))
        for field, known, value in known_names:
            if value is not None and not await conn.fetchval(known, value):
                raise InvalidRequest(f"body.{field}", f"unknown {field} {value!r}")
        adjustment_id = await conn.fetchval(
            Q.insert_adjustment,
            request_id,
            customer_id,
            balance_id,
            amount,
            reason,
            tax,
            tax_provider,
            ledger,
            who.actor,
        )
        if adjustment_id is None:
            first = await conn.fetchrow(Q.adjustment_of_request, request_id)
            if (first["customer_id"], first["balance_id"], first["amount"]) != (
                customer_id, balance_id, amount,
            ):  # fmt: skip
                raise Conflict(f"request_id {request_id!r} was used for another adjustment")
            return int(first["id"])
        await changes.audit(
            conn, who, "balance.adjust", "customer", str(customer_id), None,
            {"request_id": request_id, "amount": str(amount), "reason": reason, "tax": tax,
             "tax_provider": tax_provider, "ledger": ledger, "balance_id": balance_id,
             "id": adjustment_id},
        )  # fmt: skip
    return int(adjustment_id)


async def apply(
    pool: asyncpg.Pool, store: Adjuster, adjustment_id: int, at: datetime | None = None
) -> dict[str, Any]:
    """Have the engine apply a pending adjustment (at most once) and record its answer. `at`:
    the time the engine records the movement at (now unless a job acts as of another time)."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(Q.adjustment_to_apply, adjustment_id)
        if row is None:
            raise NotFound(f"no adjustment {adjustment_id}")
        if row["status"] == "pending":
            decimals = decimals_of(await published_catalog(conn), row["resource"], "resource")
            units = int(row["amount"].scaleb(decimals))
            answer = await store.adjust(
                row["account_id"],
                row["balance_id"],
                units,
                str(adjustment_id),
                row["reason"],
                int((at or datetime.now(UTC)).timestamp() * 1000),
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


async def apply_pending(pool: asyncpg.Pool, store: Adjuster) -> int:
    """Adjustments a crash left pending (the admin process' housekeeping)."""
    ids = [r["id"] for r in await pool.fetch(Q.pending_adjustments)]
    for adjustment_id in ids:
        await apply(pool, store, adjustment_id)
    return len(ids)


def engine_result(adjustment: dict[str, Any]) -> Result:
    """The engine's result of an answered adjustment (its `result` is `NAME: message`)."""
    name = str(adjustment["result"] or "").partition(":")[0]
    return Result.__members__.get(name, Result.CONFLICT)
