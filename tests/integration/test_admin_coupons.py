"""Coupons in the back office (create, list, get, delete) and their redemption on a subscription,
once per subscription and never beyond their uses, also when two subscriptions race."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from admin_api import coupons
from tarif_catalog.pricing import CouponTerms
from tarif_common.errors import Conflict, InvalidRequest
from tests.integration.admin_harness import Admin, onboarding

FIELD = "body.subscription.coupon"


async def subscription(admin: Admin, msisdn: str) -> int:
    """Onboard a customer through the API; its subscription's id, read from Postgres."""
    created = await admin.call("POST", "/v1/customers", json=onboarding(msisdn))
    assert created.status_code == 201, created.text
    async with admin.pool.acquire() as conn:
        sub_id: int = await conn.fetchval(
            "SELECT id FROM subscriptions WHERE customer_id = $1", created.json()["id"]
        )
    return sub_id


async def redeem(
    admin: Admin, code: str, sub_id: int, plan: str = "basic", currency: str = "EUR"
) -> CouponTerms:
    async with admin.pool.acquire() as conn, conn.transaction():
        return await coupons.redeem(conn, code, sub_id, plan, currency, FIELD)


async def uses(admin: Admin, code: str) -> int:
    got = await admin.call("GET", f"/v1/coupons/{code}", "auditor")
    assert got.status_code == 200, got.text
    n: int = got.json()["uses"]
    return n


async def publish_plan(admin: Admin, name: str) -> None:
    basic = (await admin.call("GET", "/v1/catalog/plans/basic")).json()["item"]
    put = await admin.call("PUT", f"/v1/catalog/plans/{name}", json=basic)
    assert put.status_code == 200, put.text


async def test_coupons_are_created_listed_and_deleted_while_unused(admin: Admin) -> None:
    percent = {"code": "SPRING-10", "percent": "12.5", "cycles": 3, "plans": ["basic"]}
    created = await admin.call("POST", "/v1/coupons", json=percent)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["code"], body["percent"], body["amount"], body["currency"]) == (
        "SPRING-10",
        "12.5",
        None,
        None,
    )
    assert (body["cycles"], body["plans"], body["max_uses"], body["uses"]) == (3, ["basic"], 1, 0)
    assert (await admin.call("POST", "/v1/coupons", json=percent)).status_code == 409
    amount = {
        "code": "FIVE_OFF",
        "amount": "5.00",
        "currency": "EUR",
        "max_uses": 100,
        "expires_at": "2099-01-01T00:00:00Z",
        "description": "five euro off each product, forever",
    }
    created = await admin.call("POST", "/v1/coupons", json=amount)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["amount"], body["currency"], body["percent"], body["cycles"]) == (
        "5.00",
        "EUR",
        None,
        0,
    )
    assert (body["plans"], body["max_uses"]) == ([], 100)

    listed = (await admin.call("GET", "/v1/coupons", "auditor")).json()
    assert [c["code"] for c in listed["items"]] == ["FIVE_OFF", "SPRING-10"]
    assert listed["next_cursor"] is None
    got = (await admin.call("GET", "/v1/coupons/FIVE_OFF", "operator")).json()
    assert got["description"] == "five euro off each product, forever"
    assert (await admin.call("GET", "/v1/coupons/NOPE")).status_code == 404

    assert (await admin.call("DELETE", "/v1/coupons/SPRING-10")).status_code == 204
    assert (await admin.call("GET", "/v1/coupons/SPRING-10")).status_code == 404
    assert (await admin.call("DELETE", "/v1/coupons/SPRING-10")).status_code == 404
    async with admin.pool.acquire() as conn:
        actions = await conn.fetch(
            "SELECT action, object_id FROM audit_log WHERE object_type = 'coupon' ORDER BY id"
        )
    assert [(a["action"], a["object_id"]) for a in actions] == [
        ("coupon.create", "SPRING-10"),
        ("coupon.create", "FIVE_OFF"),
        ("coupon.delete", "SPRING-10"),
    ]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"percent": "10", "amount": "1.00", "currency": "EUR"}, "body.amount"),
        ({"amount": "1.00"}, "body.currency"),
        ({"percent": "10", "currency": "EUR"}, "body.currency"),
        ({}, "body.amount"),
        ({"percent": "10", "plans": ["basic", "gold"]}, "body.plans[1]"),
        ({"percent": "10", "plans": ["basic", "basic"]}, "body.plans"),
        ({"amount": "1.00", "currency": "voice_seconds"}, "body.currency"),
        ({"amount": "1.00", "currency": "XYZ"}, "body.currency"),
        ({"amount": "1.001", "currency": "EUR"}, "body.amount"),
        ({"amount": "0", "currency": "EUR"}, "body.amount"),
        ({"percent": 12.5}, "body.percent"),
        ({"percent": "1e1"}, "body.percent"),
        ({"percent": "12.345"}, "body.percent"),
        ({"percent": "0"}, "body.percent"),
        ({"percent": "100.01"}, "body.percent"),
        ({"percent": "10", "cycles": 1201}, "body.cycles"),
        ({"percent": "10", "max_uses": 0}, "body.max_uses"),
        ({"percent": "10", "plans": ["basic"] * 101}, "body.plans"),
        ({"percent": "10", "description": "x" * 501}, "body.description"),
        ({"percent": "10", "code": "ab"}, "body.code"),
    ],
)
async def test_a_bad_coupon_is_refused_naming_the_field(
    admin: Admin, changes: dict[str, Any], field: str
) -> None:
    refused = await admin.call("POST", "/v1/coupons", json={"code": "BAD1", **changes})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["field"] == field, refused.text
    assert await admin.count("coupons") == 0


async def test_a_coupon_is_redeemed_once_per_subscription_and_never_beyond_its_uses(
    admin: Admin,
) -> None:
    await publish_plan(admin, "pro")
    subs = [await subscription(admin, f"3864055590{i}") for i in range(3)]
    for coupon in (
        {"code": "TEN1", "percent": "10", "cycles": 2, "max_uses": 2},
        {"code": "FIVE5", "amount": "5.00", "currency": "EUR", "max_uses": 5},
        {"code": "OLD1", "percent": "50", "expires_at": "2020-01-01T00:00:00Z"},
        {"code": "PRO1", "percent": "20", "plans": ["pro"], "max_uses": 5},
    ):
        created = await admin.call("POST", "/v1/coupons", json=coupon)
        assert created.status_code == 201, created.text

    assert await redeem(admin, "TEN1", subs[0]) == CouponTerms("TEN1", Decimal("10"), None)
    with pytest.raises(Conflict, match="already redeemed"):
        await redeem(admin, "TEN1", subs[0])
    assert await redeem(admin, "TEN1", subs[1]) == CouponTerms("TEN1", Decimal("10"), None)
    with pytest.raises(Conflict, match="used up"):
        await redeem(admin, "TEN1", subs[2])
    assert await uses(admin, "TEN1") == 2

    terms = await redeem(admin, "FIVE5", subs[0])
    assert terms == CouponTerms("FIVE5", None, Decimal("5.00"))
    assert isinstance(terms.amount, Decimal)
    with pytest.raises(Conflict, match="expired"):
        await redeem(admin, "OLD1", subs[0])
    with pytest.raises(InvalidRequest, match="not for plan") as refused:
        await redeem(admin, "PRO1", subs[0])
    assert refused.value.field == FIELD
    with pytest.raises(InvalidRequest) as unknown:
        await redeem(admin, "NOPE", subs[0])
    assert unknown.value.field == FIELD
    assert await redeem(admin, "PRO1", subs[0], plan="pro") == CouponTerms(
        "PRO1", Decimal("20"), None
    )

    # a refusal leaves no trace; a rolled back subscription leaves no redemption either
    with pytest.raises(InvalidRequest, match="is in EUR"):
        await redeem(admin, "FIVE5", subs[1], currency="USD")
    async with admin.pool.acquire() as conn:
        rolled_back = conn.transaction()
        await rolled_back.start()
        await coupons.redeem(conn, "FIVE5", subs[1], "basic", "EUR", FIELD)
        await rolled_back.rollback()  # the subscription failed
    assert (await uses(admin, "FIVE5"), await uses(admin, "OLD1"), await uses(admin, "PRO1")) == (
        1,
        0,
        1,
    )
    async with admin.pool.acquire() as conn:
        with pytest.raises(RuntimeError, match="transaction"):  # never on its own
            await coupons.redeem(conn, "FIVE5", subs[1], "basic", "EUR", FIELD)
        redeemed = await conn.fetch(
            "SELECT code, subscription_id FROM coupon_redemptions ORDER BY code, subscription_id"
        )
    assert [(r["code"], r["subscription_id"]) for r in redeemed] == [
        ("FIVE5", subs[0]),
        ("PRO1", subs[0]),
        ("TEN1", subs[0]),
        ("TEN1", subs[1]),
    ]

    assert (await admin.call("DELETE", "/v1/coupons/TEN1")).status_code == 409
    assert (await admin.call("GET", "/v1/coupons/TEN1")).status_code == 200
    assert (await admin.call("DELETE", "/v1/coupons/OLD1")).status_code == 204


async def attempt(
    conn: asyncpg.Connection,
    code: str,
    sub_id: int,
    wait: asyncio.Event | None = None,
    redeemed: asyncio.Event | None = None,
) -> CouponTerms:
    """One subscription's transaction: redeem (after `wait`), then stay open a moment."""
    if wait is not None:
        await wait.wait()
        await asyncio.sleep(0.05)
    async with conn.transaction():
        terms = await coupons.redeem(conn, code, sub_id, "basic", "EUR", FIELD)
        if redeemed is not None:
            redeemed.set()
        await asyncio.sleep(0.2)  # the other transaction runs meanwhile
        return terms


async def test_two_subscriptions_racing_for_the_last_use_one_wins(admin: Admin) -> None:
    subs = [await subscription(admin, f"3864055591{i}") for i in range(4)]
    for code in ("LAST-ONE", "LAST-TWO"):
        last = {"code": code, "amount": "2.50", "currency": "EUR", "max_uses": 1}
        assert (await admin.call("POST", "/v1/coupons", json=last)).status_code == 201

    # both at once, in whatever order Postgres sees them: one wins, the other is refused
    async with admin.pool.acquire() as one, admin.pool.acquire() as two:
        results = await asyncio.gather(
            attempt(one, "LAST-ONE", subs[0]),
            attempt(two, "LAST-ONE", subs[1]),
            return_exceptions=True,
        )
    won = [r for r in results if isinstance(r, CouponTerms)]
    lost = [r for r in results if not isinstance(r, CouponTerms)]
    assert won == [CouponTerms("LAST-ONE", None, Decimal("2.50"))], results
    assert len(lost) == 1, results
    assert isinstance(lost[0], Conflict), results
    assert await uses(admin, "LAST-ONE") == 1

    # the second comes while the first's transaction is still open (it counted the use but has
    # not committed): it waits on the row lock and then sees the coupon used up
    redeemed = asyncio.Event()
    async with admin.pool.acquire() as one, admin.pool.acquire() as two:
        first, second = await asyncio.gather(
            attempt(one, "LAST-TWO", subs[2], redeemed=redeemed),
            attempt(two, "LAST-TWO", subs[3], wait=redeemed),
            return_exceptions=True,
        )
    assert isinstance(first, CouponTerms), first
    assert isinstance(second, Conflict), second
    assert "used up" in str(second)
    assert await uses(admin, "LAST-TWO") == 1
    async with admin.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM coupon_redemptions") == 2
    assert (await admin.call("DELETE", "/v1/coupons/LAST-TWO")).status_code == 409
