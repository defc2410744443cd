"""Balances through the admin API: live amounts, new credit/debit balances, adjustments once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from admin_api import balances
from tarif.charging.v1 import charging_pb2 as pb
from tests.integration.admin_harness import Admin, onboarding
from tests.integration.requests import sms

MSISDN = "38640555200"


async def onboarded(admin: Admin) -> dict[str, Any]:
    response = await admin.call("POST", "/v1/customers", json=onboarding(MSISDN))
    assert response.status_code == 201, response.text
    customer: dict[str, Any] = response.json()
    return customer


async def live(admin: Admin, customer_id: int) -> dict[str, dict[str, Any]]:
    items = (await admin.call("GET", f"/v1/customers/{customer_id}/balances", "auditor")).json()
    return {b["id"]: b for b in items["items"]}


async def test_live_balances_follow_the_charges(admin: Admin) -> None:
    customer = await onboarded(admin)
    engine = admin.engine
    await engine.stub.ChargeEvent(sms(MSISDN, "one", engine.clock.now))
    main = (await live(admin, customer["id"]))["main"]
    assert (main["amount"], main["available"], main["unit"]) == ("9.95", "9.95", "EUR")


async def test_credit_for_the_cycle_and_a_debit_balance(admin: Admin) -> None:
    customer = await onboarded(admin)
    path = f"/v1/customers/{customer['id']}/balances"
    credit = {"id": "promo", "resource": "EUR", "amount": "2.50", "validity": "cycle"}
    created = await admin.call("POST", path, json=credit)
    assert created.status_code == 201, created.text
    assert created.json()["engine"] == "synced"
    promo = created.json()["balance"]
    assert promo["amount"] == "2.50"
    local = datetime.now(ZoneInfo("Europe/Ljubljana"))  # the demo catalog's time zone
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    next_cycle = datetime(year, month, 1, tzinfo=local.tzinfo).astimezone(UTC)
    assert promo["valid_to"] == next_cycle.isoformat().replace("+00:00", "Z")
    debit = {"id": "owed", "resource": "EUR", "kind": "debit", "amount": "1.00"}
    assert (await admin.call("POST", path, json=debit)).status_code == 201
    assert (await live(admin, customer["id"]))["owed"]["amount"] == "-1.00"
    assert (await admin.call("POST", path, json=debit)).status_code == 409  # same id
    bad = [
        ({**credit, "id": "x1", "resource": "GOLD"}, "body.resource"),
        ({**credit, "id": "x2", "amount": "1.005"}, "body.amount"),
        ({**credit, "id": "x3", "amount": "-1"}, "body.amount"),
        ({**credit, "id": "x4", "validity": "until"}, "body"),
    ]
    for body, field in bad:
        response = await admin.call("POST", path, json=body)
        assert response.status_code == 422, body
        assert response.json()["field"].startswith(field), response.json()


async def test_an_adjustment_applies_once_and_respects_limits(admin: Admin) -> None:
    customer = await onboarded(admin)
    path = f"/v1/customers/{customer['id']}/balances/main/adjustments"
    body = {"request_id": "adj-1", "amount": "+5.00", "reason": "goodwill", "ledger": "4100"}
    unknown = await admin.call("POST", path, "operator", json=body)
    assert (unknown.status_code, unknown.json()["field"]) == (422, "body.ledger")
    assert (
        await admin.call("PUT", "/v1/ledgers/4100", json={"account_code": "4100"})
    ).status_code == 200
    first = await admin.call("POST", path, "operator", json=body)
    assert first.status_code == 200, first.text
    assert (first.json()["status"], first.json()["balance_after"]) == ("applied", "15.00")
    again = await admin.call("POST", path, "operator", json=body)
    assert again.json() == first.json()
    assert (await live(admin, customer["id"]))["main"]["amount"] == "15.00"
    reused = await admin.call("POST", path, json={**body, "amount": "1.00"})
    assert reused.status_code == 409
    too_much = {"request_id": "adj-2", "amount": "-50.01", "reason": "x"}
    assert (await admin.call("POST", path, "operator", json=too_much)).status_code == 403
    below = await admin.call("POST", path, json={**too_much, "amount": "-20.00"})
    assert below.status_code == 402, below.text  # a refusal is a problem, never a 200
    assert below.headers["content-type"] == "application/problem+json"
    problem = below.json()
    assert problem["result"] == "CREDIT_LIMIT_REACHED"
    assert problem["state"]["status"] == "refused"  # kept, retrievable, moved nothing
    refused_id = problem["state"]["adjustment_id"]
    retried = await admin.call("POST", path, json={**too_much, "amount": "-20.00"})
    assert (retried.status_code, retried.json()["state"]) == (402, problem["state"])
    assert (await live(admin, customer["id"]))["main"]["amount"] == "15.00"
    assert (await admin.call("POST", path, "auditor", json=body)).status_code == 403
    missing = f"/v1/customers/{customer['id']}/balances/nope/adjustments"
    assert (
        await admin.call("POST", missing, json={**body, "request_id": "adj-3"})
    ).status_code == 404
    zero = await admin.call("POST", path, json={**body, "request_id": "adj-4", "amount": "0"})
    assert zero.status_code == 422
    listed = (await admin.call("GET", f"/v1/customers/{customer['id']}/adjustments")).json()
    assert [(a["request_id"], a["status"]) for a in listed["items"]] == [
        ("adj-1", "applied"),
        ("adj-2", "refused"),
    ]
    assert listed["items"][1]["id"] == refused_id
    assert listed["items"][1]["balance_after"] is None
    records = [r for r in await admin.engine.rated_records() if r["k"] == "adjust"]
    assert [(r["imp"], r["reason"]) for r in records] == [("main|EUR|500", "goodwill")]


async def test_a_crash_before_the_engine_applied_it_is_repaired_once(admin: Admin) -> None:
    customer = await onboarded(admin)
    from admin_api.auth import Principal, Role
    from admin_api.schemas import Adjustment

    who = Principal(0, "test", Role.ADMIN)
    async with admin.pool.acquire() as conn:
        adjustment_id = await balances.request_adjustment(
            conn, who, customer["id"], "main",
            Adjustment(request_id="crash-1", amount="1.00", reason="crash test"),
        )  # fmt: skip
    # committed, never applied (the process died): the housekeeping loop applies it, once
    store = admin.client._transport.app.state.store  # type: ignore[attr-defined]
    assert await balances.apply_pending(admin.pool, store) == 1
    assert await balances.apply_pending(admin.pool, store) == 0
    await balances.apply(admin.pool, store, adjustment_id)
    assert (await live(admin, customer["id"]))["main"]["amount"] == "11.00"
    engine = admin.engine
    answer = await engine.stub.ChargeEvent(sms(MSISDN, "after-adjust", engine.clock.now))
    assert answer.result == pb.SUCCESS
