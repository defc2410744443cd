"""The purchase-check job: recurring products renewed at the end of their cycle (prepaid paid
through the engine's adjustment step and granted again; postpaid billed once by the billing
runs), unpaid renewals suspended then cancelled after the grace, ended products cancelled,
coupons that stop after their cycles, and nothing done twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from tarif_billing.cycles import CycleRule, cycle_at, next_cycle
from tarif_billing.runs import run_billing
from tarif_jobs.runs import ItemRef
from tests.integration.admin_harness import Admin, onboarding
from tests.integration.billing_harness import FACTS, context, postpaid_customer
from tests.integration.job_run_harness import Ran, run_job

MSISDN = "38640556001"
# onboarding's default profile: monthly from day 1 in the catalog's time zone
THIS = cycle_at(CycleRule("monthly", 1, "Europe/Ljubljana"), datetime.now(UTC))
NEXT = next_cycle(CycleRule("monthly", 1, "Europe/Ljubljana"), THIS)
AFTER = next_cycle(CycleRule("monthly", 1, "Europe/Ljubljana"), NEXT)
HOUR = timedelta(hours=1)


def prepaid_smart(amount: str, msisdn: str = MSISDN, **changes: Any) -> dict[str, Any]:
    """A prepaid customer on plan `smart`: monthly fee 9.99 and 2 x 100 minutes at 4.00 with
    10 % off (both recurring; the minutes granted for the cycle), 2.50 EUR of welcome credit."""
    body = onboarding(
        msisdn,
        subscription__plan="smart",
        subscription__balances=[{"id": "main", "resource": "EUR", "amount": amount}],
    )
    body["subscription"] |= changes
    return body


async def onboard(admin: Admin, body: dict[str, Any]) -> dict[str, Any]:
    answer = await admin.call("POST", "/v1/customers", json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def products(admin: Admin, customer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    sid = customer["subscriptions"][0]["id"]
    listed = await admin.call("GET", f"/v1/customers/{customer['id']}/subscriptions/{sid}/products")
    assert listed.status_code == 200, listed.text
    return {p["product"]: p for p in listed.json()["items"]}


async def check(admin: Admin, at: datetime, **kw: Any) -> Ran:
    return await run_job(admin.pool, admin.engine.redis, "purchase_check", at, **kw)


async def renewals(pool: asyncpg.Pool, purchase_id: int) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT period_start, cycle, amount, paid_by, status, attempts, discounts, error"
            " FROM purchase_renewals WHERE purchase_id = $1 ORDER BY period_start",
            purchase_id,
        )
    return [dict(r) for r in rows]


async def test_a_prepaid_renewal_is_paid_once_and_its_allowance_granted_again(
    admin: Admin,
) -> None:
    engine = admin.engine
    customer = await onboard(admin, prepaid_smart("40.00"))
    before = await products(admin, customer)
    fee, voice = before["monthly-fee"], before["voice-100min"]
    assert (fee["cycles"], datetime.fromisoformat(fee["period_end"])) == (1, THIS.end)
    assert datetime.fromisoformat(voice["valid_to"]) == THIS.end  # granted for the cycle
    assert before["welcome-credit"]["period_end"] is None  # one-off: no cycle
    assert await engine.balance(MSISDN, "main") == 4000 - 999 - 720

    ran = await check(admin, THIS.end - HOUR)  # the cycle has not ended: nothing to do
    assert (ran.total, ran.succeeded, ran.failed) == (0, 0, 0)
    ran = await check(admin, NEXT.start + HOUR)
    assert (ran.total, ran.succeeded, ran.failed) == (2, 2, 0)
    # paid through the engine's adjustment step, once each, as of the run's "process now"
    assert await engine.balance(MSISDN, "main") == 4000 - 2 * (999 + 720)
    adjustments = (await admin.call("GET", f"/v1/customers/{customer['id']}/adjustments")).json()
    renewal_payments = [
        (a["amount"], a["status"]) for a in adjustments["items"] if "renewal" in a["reason"]
    ]
    assert sorted(renewal_payments) == [("-7.20", "applied"), ("-9.99", "applied")]
    after = await products(admin, customer)
    voice_now = after["voice-100min"]
    assert voice_now["balance_id"] == f"voice-100min-{voice['id']}-2"
    assert datetime.fromisoformat(voice_now["valid_from"]) == NEXT.start
    assert datetime.fromisoformat(voice_now["valid_to"]) == NEXT.end
    assert (voice_now["cycles"], datetime.fromisoformat(voice_now["period_end"])) == (2, NEXT.end)
    # the new cycle's minutes are in the engine (the job pushed the account); the ended
    # cycle's grant is gone
    assert await engine.balance(MSISDN, voice_now["balance_id"]) == 12_000
    live = await admin.call("GET", f"/v1/customers/{customer['id']}/balances")
    assert voice["balance_id"] not in {b["id"] for b in live.json()["items"]}
    (renewed,) = await renewals(admin.pool, fee["id"])
    assert (renewed["cycle"], renewed["amount"], renewed["paid_by"], renewed["status"]) == (
        2, Decimal("9.99"), "balance", "done",
    )  # fmt: skip

    # the same run again, or a later one inside the new cycle: nothing is paid or granted twice
    for at in (NEXT.start + HOUR, NEXT.start + 5 * HOUR):
        again = await check(admin, at)
        assert (again.total, again.failed) == (0, 0)
    assert await engine.balance(MSISDN, "main") == 4000 - 2 * (999 + 720)
    assert len(await renewals(admin.pool, voice["id"])) == 1


async def test_a_postpaid_renewal_lands_once_on_the_bill(admin: Admin) -> None:
    customer = await postpaid_customer(admin, "38640556002")
    fee = (await products(admin, customer))["monthly-fee"]
    billed_at, moved_at = NEXT.start, NEXT.start + HOUR

    async def fee_items() -> list[tuple[datetime, Decimal]]:
        async with admin.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT period_start, amount FROM bill_items WHERE purchase_id = $1"
                " AND kind = 'recurring' ORDER BY period_start",
                fee["id"],
            )
        return [(r["period_start"], r["amount"]) for r in rows]

    await run_billing(admin.pool, context(billed_at), FACTS)  # the cycle's bill: fees in advance
    items = await fee_items()
    assert [start for start, _ in items][-1] == NEXT.start  # next cycle's fee, in advance
    for _ in range(2):  # the check renews it (twice asked, once done) and charges nothing
        ran = await check(admin, moved_at)
        assert ran.failed == 0
        await run_billing(admin.pool, context(billed_at), FACTS)
        assert await fee_items() == items
    renewed = (await products(admin, customer))["monthly-fee"]
    assert (renewed["cycles"], datetime.fromisoformat(renewed["period_end"])) == (2, NEXT.end)
    assert [(r["paid_by"], r["amount"]) for r in await renewals(admin.pool, fee["id"])] == [
        ("bill", Decimal("9.99"))
    ]
    adjustments = (await admin.call("GET", f"/v1/customers/{customer['id']}/adjustments")).json()
    assert adjustments["items"] == []  # postpaid: nothing taken from a balance

    # the cycle after: renewed and billed once more, each cycle's fee on exactly one bill
    await check(admin, AFTER.start + HOUR)
    await run_billing(admin.pool, context(AFTER.start), FACTS)
    await check(admin, AFTER.start + HOUR)
    await run_billing(admin.pool, context(AFTER.start), FACTS)
    starts = [start for start, _ in await fee_items()]
    assert len(starts) == len(set(starts))
    assert AFTER.start in starts
    assert (await products(admin, customer))["monthly-fee"]["cycles"] == 3


async def test_an_unpaid_renewal_suspends_the_product_then_paid_or_cancelled(
    admin: Admin,
) -> None:
    engine = admin.engine
    customer = await onboard(admin, prepaid_smart("20.00"))
    bought = await products(admin, customer)
    fee, voice = bought["monthly-fee"], bought["voice-100min"]
    assert await engine.balance(MSISDN, "main") == 281

    ran = await check(admin, NEXT.start + HOUR)
    assert (ran.total, ran.succeeded, ran.failed) == (2, 0, 2)
    assert {i["object_id"] for i in ran.items} == {str(fee["id"]), str(voice["id"])}
    assert all("is unpaid" in i["error"] and "CREDIT_LIMIT_REACHED" in i["error"]
               for i in ran.items)  # fmt: skip
    assert all(i["cause"].startswith("insufficient balance") for i in ran.items)
    after = await products(admin, customer)
    assert (after["monthly-fee"]["status"], after["voice-100min"]["status"]) == (
        "suspended", "suspended",
    )  # fmt: skip
    assert after["voice-100min"]["balance_id"] == voice["balance_id"]  # no new grant
    assert [(r["status"], r["attempts"]) for r in await renewals(admin.pool, fee["id"])] == [
        ("unpaid", 1)
    ]
    assert await engine.balance(MSISDN, "main") == 281  # nothing taken
    async with admin.pool.acquire() as conn:
        logged = await conn.fetch(
            "SELECT process, object_type, object_id FROM activity_log WHERE run_id = $1",
            ran.run_id,
        )
        alert = await conn.fetchrow(
            "SELECT process, occurrences FROM alerts WHERE run_id = $1 AND acknowledged_at IS NULL",
            ran.run_id,
        )
    assert sorted((r["object_type"], r["object_id"]) for r in logged) == sorted(
        [("purchase", str(fee["id"])), ("purchase", str(voice["id"]))]
    )
    assert (alert["process"], alert["occurrences"]) == ("purchase_check", 2)

    # a top-up: the next run pays what it can (the fee first), the other stays suspended
    top_up = {"request_id": "top-up", "amount": "10.00", "reason": "top-up"}
    paid = await admin.call(
        "POST", f"/v1/customers/{customer['id']}/balances/main/adjustments", json=top_up
    )
    assert paid.status_code in (200, 201), paid.text
    failed = frozenset(ItemRef("purchase", i["object_id"]) for i in ran.items)
    retry = await check(admin, NEXT.start + 2 * HOUR, only=failed)
    assert (retry.total, retry.succeeded, retry.failed) == (2, 1, 1)
    assert retry.items[0]["object_id"] == str(voice["id"])
    assert await engine.balance(MSISDN, "main") == 1281 - 999
    after = await products(admin, customer)
    assert (after["monthly-fee"]["status"], after["monthly-fee"]["cycles"]) == ("active", 2)
    assert [(r["status"], r["attempts"]) for r in await renewals(admin.pool, fee["id"])] == [
        ("done", 2)
    ]

    # still unpaid when the grace ends: cancelled as of the cycle's start
    lapsed = await check(admin, NEXT.start + timedelta(days=7, hours=1))
    assert (lapsed.total, lapsed.succeeded, lapsed.failed) == (1, 1, 0)
    gone = (await products(admin, customer))["voice-100min"]
    assert gone["status"] == "cancelled"
    assert datetime.fromisoformat(gone["cancelled_at"]) == NEXT.start
    assert [r["status"] for r in await renewals(admin.pool, voice["id"])] == ["cancelled"]
    assert await engine.balance(MSISDN, "main") == 282  # never paid


async def test_ended_products_are_cancelled(admin: Admin) -> None:
    customer = await onboard(admin, prepaid_smart("40.00"))
    cid, sid = customer["id"], customer["subscriptions"][0]["id"]
    bought = await products(admin, customer)
    fee = bought["monthly-fee"]
    end = datetime.now(UTC) + 2 * HOUR
    change = {"request_id": "end-fee", "customer_id": cid, "purchase_id": fee["id"],
              "kind": "terminate", "effective_at": end.isoformat()}  # fmt: skip
    made = await admin.call("POST", "/v1/contract-changes", json=change)
    assert made.status_code == 201, made.text
    assert (
        datetime.fromisoformat((await products(admin, customer))["monthly-fee"]["ends_at"]) == end
    )

    await check(admin, end - HOUR, criteria={"customer_ids": [cid]})
    assert (await products(admin, customer))["monthly-fee"]["status"] == "active"
    ran = await check(admin, end + HOUR, criteria={"customer_ids": [cid]})
    assert (ran.failed, ran.succeeded) == (0, ran.total)
    ended = (await products(admin, customer))["monthly-fee"]
    assert (ended["status"], datetime.fromisoformat(ended["cancelled_at"])) == ("cancelled", end)
    # the contract change it came from is done: the product had ended
    applied = await run_job(admin.pool, admin.engine.redis, "contract_change", end + HOUR)
    assert (applied.total, applied.succeeded) == (1, 1)
    done = (await admin.call("GET", f"/v1/contract-changes/{made.json()['id']}")).json()
    assert (done["status"], done["reason"]) == ("done", "the product had ended")

    # a cancelled subscription's products end with it
    assert (await admin.call("POST", f"/v1/customers/{cid}/subscriptions/{sid}/cancel")).is_success
    ran = await check(admin, end + 2 * HOUR)
    left = await products(admin, customer)
    assert {p["status"] for p in left.values()} == {"cancelled"}
    assert ran.failed == 0
    assert (await check(admin, end + 3 * HOUR)).total == 0


async def test_a_coupon_stops_after_its_cycles(admin: Admin) -> None:
    coupon = {"code": "HALF2", "percent": "50", "cycles": 2, "max_uses": 1}
    assert (await admin.call("POST", "/v1/coupons", json=coupon)).status_code == 201
    customer = await onboard(admin, prepaid_smart("50.00", coupons=["HALF2"]))
    bought = await products(admin, customer)
    fee, voice = bought["monthly-fee"], bought["voice-100min"]
    assert (fee["price"], voice["price"]) == ("4.99", "3.20")  # cycle 1
    await check(admin, NEXT.start + HOUR)  # cycle 2: still half price
    await check(admin, AFTER.start + HOUR)  # cycle 3: the coupon is over
    assert [(r["cycle"], r["amount"]) for r in await renewals(admin.pool, fee["id"])] == [
        (2, Decimal("4.99")), (3, Decimal("9.99")),
    ]  # fmt: skip
    cycles = await renewals(admin.pool, voice["id"])
    assert [(r["cycle"], r["amount"]) for r in cycles] == [
        (2, Decimal("3.20")), (3, Decimal("7.20")),
    ]  # fmt: skip
    assert [d["source"] for d in cycles[0]["discounts"]] == ["offer", "coupon"]
    assert [d["source"] for d in cycles[1]["discounts"]] == ["offer"]
    assert await admin.engine.balance(MSISDN, "main") == 5000 - 2 * (499 + 320) - (999 + 720)
