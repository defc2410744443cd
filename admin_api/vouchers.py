"""Vouchers: a code worth an amount of a resource, single or multi use, with an expiry.

Redeeming one for a customer is an adjustment of the customer's balance of that resource
(applied once by the engine); a customer redeems a code at most once, and a code at most
`max_uses` times in all (the row is locked while it is counted).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from admin_api import audit, balances, catalog
from admin_api.auth import Principal
from admin_api.schemas import Adjustment, VoucherNew
from engine.store import RedisBalanceStore
from tarif_common.errors import Conflict, InvalidRequest, NotFound

_PUBLIC = """code, resource, amount::text AS amount, max_uses, uses, expires_at, description,
    created_at"""


async def create(conn: asyncpg.Connection, who: Principal, body: VoucherNew) -> dict[str, Any]:
    published = await catalog.current(conn)
    resource = published.resources.get(body.resource)
    if resource is None:
        raise InvalidRequest("body.resource", f"unknown resource {body.resource!r}")
    async with conn.transaction():
        try:
            await conn.execute(
                """INSERT INTO vouchers (code, resource, amount, max_uses, expires_at, description)
                   VALUES ($1, $2, $3::numeric, $4, $5, $6)""",
                body.code,
                body.resource,
                body.amount,
                body.max_uses,
                body.expires_at,
                body.description,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(f"voucher {body.code!r} exists") from None
        await audit.record(
            conn, who, "voucher.create", "voucher", body.code, None, body.model_dump(mode="json")
        )
        return await get(conn, body.code)


async def get(conn: asyncpg.Connection, code: str) -> dict[str, Any]:
    row = await conn.fetchrow(f"SELECT {_PUBLIC} FROM vouchers WHERE code = $1", code)
    if row is None:
        raise NotFound(f"no voucher {code!r}")
    return dict(row)


async def list_all(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(f"SELECT {_PUBLIC} FROM vouchers ORDER BY code")]


async def delete(conn: asyncpg.Connection, who: Principal, code: str) -> None:
    async with conn.transaction():
        row = await conn.fetchrow("SELECT uses FROM vouchers WHERE code = $1 FOR UPDATE", code)
        if row is None:
            raise NotFound(f"no voucher {code!r}")
        if row["uses"]:
            raise Conflict(f"voucher {code!r} was redeemed: it is kept")
        before = await get(conn, code)
        await conn.execute("DELETE FROM vouchers WHERE code = $1", code)
        await audit.record(conn, who, "voucher.delete", "voucher", code, before)


async def _no_balance(conn: asyncpg.Connection, customer_id: int, resource: str) -> None:
    if await conn.fetchval("SELECT 1 FROM customers WHERE id = $1", customer_id):
        raise Conflict(f"customer {customer_id} has no {resource} balance")
    raise NotFound(f"no customer {customer_id}")


async def redeem(
    pool: asyncpg.Pool,
    store: RedisBalanceStore,
    who: Principal,
    customer_id: int,
    code: str,
) -> dict[str, Any]:
    """Credit the voucher to the customer (once per customer); returns the adjustment."""
    async with pool.acquire() as conn, conn.transaction():
        voucher = await conn.fetchrow("SELECT * FROM vouchers WHERE code = $1 FOR UPDATE", code)
        if voucher is None:
            raise NotFound(f"no voucher {code!r}")
        done = await conn.fetchval(
            "SELECT adjustment_id FROM voucher_redemptions WHERE code = $1 AND customer_id = $2",
            code,
            customer_id,
        )
        if done is None:
            if voucher["expires_at"] is not None and voucher["expires_at"] <= datetime.now(UTC):
                raise Conflict(f"voucher {code!r} expired")
            if voucher["uses"] >= voucher["max_uses"]:
                raise Conflict(f"voucher {code!r} is used up")
            balance_id = await conn.fetchval(
                """SELECT balance_id FROM balances WHERE customer_id = $1 AND resource = $2
                       ORDER BY valid_to IS NOT NULL, balance_id LIMIT 1""",
                customer_id,
                voucher["resource"],
            )
            if balance_id is None:
                await _no_balance(conn, customer_id, voucher["resource"])
            done = await balances.request_adjustment(
                conn,
                who,
                customer_id,
                balance_id,
                Adjustment(
                    request_id=f"voucher-{code}-{customer_id}",
                    amount=str(voucher["amount"]),
                    reason=f"voucher {code}",
                ),
            )
            await conn.execute(
                """INSERT INTO voucher_redemptions (code, customer_id, adjustment_id)
                       VALUES ($1, $2, $3)""",
                code,
                customer_id,
                done,
            )
            await conn.execute("UPDATE vouchers SET uses = uses + 1 WHERE code = $1", code)
    return await balances.apply(pool, store, done)
