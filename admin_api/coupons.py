"""Coupons: a promotion code taking a percent or an amount off a subscription's product prices,
for a number of billing cycles (0: for as long as the subscription lasts), optionally only on
some plans, single or multi use, with an expiry.

A coupon is redeemed once per subscription and `max_uses` times in all: `redeem` runs in the
transaction of the subscription it discounts and locks the coupon row while it counts, so two
subscriptions racing for the last use cannot both have it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
from pydantic import Field, ValidationInfo, field_validator

from admin_api import audit, catalog
from admin_api.auth import Principal
from admin_api.paging import Keyset, Listed, Paging
from admin_api.schemas import Strict
from tarif_catalog.pricing import CouponTerms
from tarif_common.errors import Conflict, Duplicate, InvalidRequest, NotFound
from tarif_postgres import queries

Q = queries.load("coupons")

CODE_PATTERN = r"^[A-Za-z0-9_-]{4,64}$"


class CouponNew(Strict):
    """A percent off XOR an amount off (in `currency`, a money resource) each product's price."""

    code: Annotated[str, Field(pattern=CODE_PATTERN)]
    percent: (
        Annotated[
            str, Field(pattern=r"^[0-9]{1,3}(\.[0-9]{1,2})?$", description="0 < percent <= 100")
        ]
        | None
    ) = None
    amount: (
        Annotated[str, Field(pattern=r"^[0-9]{1,15}(\.[0-9]{1,6})?$", description="> 0")] | None
    ) = Field(default=None, validate_default=True)
    currency: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None,
        validate_default=True,
        description="the money resource of `amount`: required with it, refused with `percent`",
    )
    cycles: Annotated[int, Field(ge=0, le=1200, description="0: for the whole subscription")] = 0
    plans: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)]],
        Field(max_length=100, description="empty: any plan"),
    ] = []
    max_uses: Annotated[int, Field(ge=1, le=10_000_000)] = 1
    expires_at: datetime | None = None
    description: Annotated[str, Field(max_length=500)] = ""

    @field_validator("percent")
    @classmethod
    def _a_share(cls, value: str | None) -> str | None:
        if value is not None and not 0 < Decimal(value) <= 100:
            raise ValueError("must be more than 0 and at most 100")
        return value

    @field_validator("amount")
    @classmethod
    def _percent_xor_amount(cls, value: str | None, info: ValidationInfo) -> str | None:
        if "percent" not in info.data:  # the percent is invalid: that error is enough
            return value
        percent = info.data["percent"]
        if value is None and percent is None:
            raise ValueError("a coupon takes a percent or an amount off")
        if value is not None and percent is not None:
            raise ValueError("a percent or an amount, not both")
        if value is not None and Decimal(value) <= 0:
            raise ValueError("must be more than zero")
        return value

    @field_validator("currency")
    @classmethod
    def _with_amount(cls, value: str | None, info: ValidationInfo) -> str | None:
        if "amount" not in info.data:
            return value
        if info.data["amount"] is not None and value is None:
            raise ValueError("required with an amount")
        if info.data["amount"] is None and value is not None:
            raise ValueError("only with an amount (a percent has no currency)")
        return value

    @field_validator("plans")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("plans repeat")
        return value


async def create(conn: asyncpg.Connection, who: Principal, body: CouponNew) -> dict[str, Any]:
    published = await catalog.current(conn)
    for i, plan in enumerate(body.plans):
        if plan not in published.plans:
            raise InvalidRequest(f"body.plans[{i}]", f"unknown plan {plan!r}")
    if body.currency is not None and body.amount is not None:
        money = published.resources.get(body.currency)
        if money is None or money.currency is None:
            raise InvalidRequest("body.currency", f"{body.currency!r} is not a money resource")
        exponent = Decimal(body.amount).normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > money.decimals:
            raise InvalidRequest(
                "body.amount", f"{body.currency} has {money.decimals} decimals at most"
            )
    async with conn.transaction():
        try:
            await conn.execute(
                Q.insert_coupon,
                body.code,
                body.percent,
                body.amount,
                body.currency,
                body.cycles,
                body.plans,
                body.max_uses,
                body.expires_at,
                body.description,
            )
        except Duplicate:
            raise Conflict(f"coupon {body.code!r} exists") from None
        await audit.record(
            conn, who, "coupon.create", "coupon", body.code, None, body.model_dump(mode="json")
        )
        return await get(conn, body.code)


async def get(conn: asyncpg.Connection, code: str) -> dict[str, Any]:
    row = await conn.fetchrow(Q.coupon_by_code, code)
    if row is None:
        raise NotFound(f"no coupon {code!r}")
    return dict(row)


COUPONS = Keyset("coupons", "code", "")


async def list_all(conn: asyncpg.Connection, page: Paging) -> Listed:
    return COUPONS.page(await conn.fetch(Q.all_coupons, COUPONS.after(page), page.limit), page)


async def delete(conn: asyncpg.Connection, who: Principal, code: str) -> None:
    async with conn.transaction():
        row = await conn.fetchrow(Q.lock_coupon_uses, code)
        if row is None:
            raise NotFound(f"no coupon {code!r}")
        if row["uses"]:
            raise Conflict(f"coupon {code!r} was redeemed: it is kept")
        before = await get(conn, code)
        await conn.execute(Q.remove_coupon, code)
        await audit.record(conn, who, "coupon.delete", "coupon", code, before)


async def redeem(
    conn: asyncpg.Connection, code: str, subscription_id: int, plan: str, currency: str, field: str
) -> CouponTerms:
    """Redeem the coupon on a subscription of `plan` priced in `currency` (a money resource).

    Runs in the caller's transaction (it opens none: the redemption lands or rolls back with the
    subscription) at READ COMMITTED: the coupon row is locked until that transaction ends, so
    concurrent redemptions are counted one after the other. `field` names the code in the
    caller's request for the 422s. Auditing is the caller's, with the change it is part of.
    """
    if not conn.is_in_transaction():
        raise RuntimeError("coupons.redeem runs inside the caller's transaction")
    coupon = await conn.fetchrow(Q.lock_coupon, code)
    if coupon is None:
        raise InvalidRequest(field, f"unknown coupon {code!r}")
    if await conn.fetchval(Q.coupon_redeemed_on, code, subscription_id):
        raise Conflict(f"coupon {code!r} is already redeemed on subscription {subscription_id}")
    if coupon["expires_at"] is not None and coupon["expires_at"] <= datetime.now(UTC):
        raise Conflict(f"coupon {code!r} expired")
    if coupon["uses"] >= coupon["max_uses"]:
        raise Conflict(f"coupon {code!r} is used up")
    if coupon["plans"] and plan not in coupon["plans"]:
        raise InvalidRequest(field, f"coupon {code!r} is not for plan {plan!r}")
    if coupon["currency"] is not None and coupon["currency"] != currency:
        raise InvalidRequest(field, f"coupon {code!r} is in {coupon['currency']}, not {currency}")
    try:
        await conn.execute(Q.insert_redemption, code, subscription_id)
    except Duplicate:  # only if the caller's isolation let a twin through
        raise Conflict(
            f"coupon {code!r} is already redeemed on subscription {subscription_id}"
        ) from None
    counted = await conn.fetchval(Q.count_coupon_use, code)
    if counted is None:  # likewise: the row lock above makes this unreachable at READ COMMITTED
        raise Conflict(f"coupon {code!r} is used up")
    return CouponTerms(code=code, percent=coupon["percent"], amount=coupon["amount"])
