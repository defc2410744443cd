"""What the admin API answers about business outcomes: a refusal after something was recorded
is a problem naming what stays; the customer's balances are live or plainly provisioned."""

from __future__ import annotations

from typing import Any

from tarif_client.engine import GrpcEngine
from tests.integration.admin_harness import Admin, onboarding
from tests.integration.requests import sms

MSISDN = "38640555001"


def smart(amount: str) -> dict[str, Any]:
    """A prepaid customer on plan `smart`, whose bundle costs 17.19 EUR."""
    return onboarding(
        subscription__plan="smart",
        subscription__balances=[{"id": "main", "resource": "EUR", "amount": amount}],
    )


async def test_a_subscription_the_balance_cannot_pay_is_a_problem_naming_what_stays(
    admin: Admin,
) -> None:
    customer = (await admin.call("POST", "/v1/customers", json=smart("20.19"))).json()
    cid = customer["id"]
    assert await admin.engine.balance(MSISDN, "main") == 300  # 3.00 left
    more = {"balance_group": "main", "plan": "smart", "currency": "EUR",
            "services": ["38640555102"]}  # fmt: skip
    refused = await admin.call("POST", f"/v1/customers/{cid}/subscriptions", json=more)
    assert refused.status_code == 402, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["result"] == "CREDIT_LIMIT_REACHED"
    state = problem["state"]
    assert state["status"] == "refused"
    assert f"subscription {state['subscription_id']} stays open" in problem["detail"]
    listed = await admin.call(
        "GET", f"/v1/customers/{cid}/subscriptions/{state['subscription_id']}/products"
    )
    statuses = {p["id"]: p["status"] for p in listed.json()["items"]}
    assert {statuses[p] for p in state["purchases"]} == {"refused"}
    assert await admin.engine.balance(MSISDN, "main") == 300  # nothing taken


async def test_details_show_live_balances_or_say_they_are_as_provisioned(admin: Admin) -> None:
    customer = (await admin.call("POST", "/v1/customers", json=onboarding())).json()
    assert customer["balances_source"] == "provisioned"  # a change's answer does not ask
    assert "GET" in customer["balances_note"]
    engine = admin.engine
    await engine.stub.ChargeEvent(sms(MSISDN, "d1", engine.clock.now))
    path = f"/v1/customers/{customer['id']}"

    live = (await admin.call("GET", path)).json()
    assert live["balances_source"] == "live"
    assert "balances_note" not in live
    (main,) = live["balances"]
    assert (main["id"], main["amount"], main["reserved"], main["available"]) == (
        "main", "9.95", "0.00", "9.95",
    )  # fmt: skip

    working = admin.app.state.engine
    admin.app.state.engine = GrpcEngine("127.0.0.1:9", timeout=2.0)  # nothing listens there
    try:
        away = await admin.call("GET", path)
    finally:
        await admin.app.state.engine.close()
        admin.app.state.engine = working
    assert away.status_code == 200, away.text
    provisioned = away.json()
    assert provisioned["balances_source"] == "provisioned"
    assert "the engine cannot be reached" in provisioned["balances_note"]
    (main,) = provisioned["balances"]
    assert main["amount"] == "10.00"  # as provisioned, and said so
    assert "reserved" not in main
    assert "available" not in main
