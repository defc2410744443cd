"""Vouchers: a code worth an amount of a resource, or an option pack; single or multi use,
with an expiry.

A credit voucher is an adjustment of a balance of that resource (applied once by the engine); a
pack voucher buys the pack for a subscription free of charge. A customer redeems a code at most
once, and a code is redeemed at most `max_uses` times in all (the row is locked while it is
counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from admin_api import audit, balances, catalog, purchases
from admin_api.auth import Principal
from admin_api.paging import Keyset, Listed, Paging
from admin_api.schemas import Adjustment, VoucherNew
from tarif_balances.store import RedisBalanceStore
from tarif_billing import purchasing
from tarif_common.errors import Conflict, Duplicate, InvalidRequest, NotFound
from tarif_postgres import queries

Q = queries.load("vouchers")
CUSTOMERS = queries.load("customers")


async def create(conn: asyncpg.Connection, who: Principal, body: VoucherNew) -> dict[str, Any]:
    published = await catalog.current(conn)
    if body.resource is not None and body.resource not in published.resources:
        raise InvalidRequest("body.resource", f"unknown resource {body.resource!r}")
    if body.pack is not None and body.pack not in published.packs:
        raise InvalidRequest("body.pack", f"unknown pack {body.pack!r}")
    async with conn.transaction():
        try:
            await conn.execute(
                Q.insert_voucher,
                body.code,
                body.resource,
                body.amount,
                body.pack,
                body.max_uses,
                body.expires_at,
                body.description,
            )
        except Duplicate:
            raise Conflict(f"voucher {body.code!r} exists") from None
        await audit.record(
            conn, who, "voucher.create", "voucher", body.code, None, body.model_dump(mode="json")
        )
        return await get(conn, body.code)


async def get(conn: asyncpg.Connection, code: str) -> dict[str, Any]:
    row = await conn.fetchrow(Q.voucher_by_code, code)
    if row is None:
        raise NotFound(f"no voucher {code!r}")
    return dict(row)


VOUCHERS = Keyset("vouchers", "code", "")


async def list_all(conn: asyncpg.Connection, page: Paging) -> Listed:
    rows = await conn.fetch(Q.all_vouchers, VOUCHERS.after(page), page.limit)
    return VOUCHERS.page(rows, page)


async def delete(conn: asyncpg.Connection, who: Principal, code: str) -> None:
    async with conn.transaction():
        row = await conn.fetchrow(Q.lock_voucher_uses, code)
        if row is None:
            raise NotFound(f"no voucher {code!r}")
        if row["uses"]:
            raise Conflict(f"voucher {code!r} was redeemed: it is kept")
        before = await get(conn, code)
        await conn.execute(Q.delete_voucher, code)
        await audit.record(conn, who, "voucher.delete", "voucher", code, before)


@dataclass(frozen=True, slots=True)
class Used:
    adjustment: int | None  # a credit, to apply after the commit
    purchases: list[int]  # a pack's


async def use(
    conn: asyncpg.Connection,
    who: Principal,
    customer_id: int,
    code: str,
    sub: purchasing.Subscription | None,
    field: str,
) -> Used:
    """Redeem inside the caller's transaction: a credit to a balance of the resource (in the
    subscription's balance group when there is one), or the pack bought for `sub`. A second
    redemption by the same customer, a retry included, is a Conflict saying so."""
    voucher = await conn.fetchrow(Q.lock_voucher, code)
    if voucher is None:
        raise InvalidRequest(field, f"no voucher {code!r}")
    done = await conn.fetchrow(Q.customer_redemption, code, customer_id)
    if done is not None:  # a retry too: what the first redemption did is in the adjustments
        credit = done["adjustment_id"]
        made = f" (adjustment {credit})" if credit is not None else ""
        raise Conflict(f"voucher {code!r} was already redeemed by customer {customer_id}{made}")
    if voucher["expires_at"] is not None and voucher["expires_at"] <= datetime.now(UTC):
        raise Conflict(f"voucher {code!r} expired")
    if voucher["uses"] >= voucher["max_uses"]:
        raise Conflict(f"voucher {code!r} is used up")
    used = Used(None, [])
    if voucher["pack"] is not None:
        if sub is None:
            raise InvalidRequest(field, f"voucher {code!r} buys a pack: apply it to a subscription")
        published = await catalog.current(conn)
        pack = published.packs.get(voucher["pack"])
        if pack is None:
            raise Conflict(f"voucher {code!r} buys pack {voucher['pack']!r}, no longer sold")
        bought = await purchasing.buy(conn, who, sub, pack, "pack", [], [], field, voucher=code)
        used = Used(None, bought.purchases)
    else:
        balance_id = await conn.fetchval(
            Q.balance_to_credit,
            customer_id,
            voucher["resource"],
            sub.group_id if sub else None,
        )
        if balance_id is None:
            raise Conflict(f"customer {customer_id} has no {voucher['resource']} balance there")
        used = Used(
            await balances.request_adjustment(
                conn,
                who,
                customer_id,
                balance_id,
                Adjustment(
                    request_id=f"voucher-{code}-{customer_id}",
                    amount=str(voucher["amount"]),
                    reason=f"voucher {code}",
                ),
            ),
            [],
        )
    await conn.execute(
        Q.insert_redemption,
        code,
        customer_id,
        used.adjustment,
        sub.id if sub else None,
    )
    await conn.execute(Q.count_use, code)
    return used


async def redeem(
    pool: asyncpg.Pool,
    store: RedisBalanceStore,
    who: Principal,
    customer_id: int,
    code: str,
    subscription_id: int | None = None,
) -> dict[str, Any]:
    """Apply a voucher to the customer (or one of its subscriptions); returns the adjustment
    it made, or (a pack voucher) the products it bought and the account to resync."""
    async with pool.acquire() as conn:
        async with conn.transaction():
            if await conn.fetchval(CUSTOMERS.customer_exists, customer_id) is None:
                raise NotFound(f"no customer {customer_id}")
            sub = None
            if subscription_id is not None:
                sub = await purchases.subscription(conn, customer_id, subscription_id)
            used = await use(conn, who, customer_id, code, sub, "body.code")
            account = sub.account_id if sub else None
        if used.adjustment is None:
            return {
                "code": code,
                "products": [await purchases.get(conn, p) for p in used.purchases],
                "account": account,
            }
    credited = await balances.apply(pool, store, used.adjustment)
    if refused := balances.refusal(credited):
        refused.state["voucher"] = code  # redeemed: the code is used, its credit refused
        raise refused
    return credited
