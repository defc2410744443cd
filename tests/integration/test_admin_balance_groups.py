"""Several subscriptions per customer, each bound to a balance group (one engine account)."""

from __future__ import annotations

from typing import Any

from tarif.charging.v1 import charging_pb2 as pb
from tests.integration.admin_harness import Admin, onboarding
from tests.integration.requests import sms


def second(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "balance_group": "work",
        "plan": "basic",
        "currency": "EUR",
        "services": ["38640555101"],
        "balances": [{"id": "work-eur", "resource": "EUR", "amount": "3.00"}],
    }
    return body | changes


async def test_a_second_subscription_in_its_own_group_moves_only_that_groups_balances(
    admin: Admin,
) -> None:
    customer = (await admin.call("POST", "/v1/customers", json=onboarding())).json()
    cid, account = customer["id"], customer["account_id"]
    assert [g["name"] for g in customer["balance_groups"]] == ["main"]
    assert customer["balance_groups"][0]["account_id"] == account

    response = await admin.call("POST", f"/v1/customers/{cid}/subscriptions", json=second())
    assert response.status_code == 201, response.text
    added = response.json()  # the new subscription, as the details show it
    assert set(added) == set(customer["subscriptions"][0])
    assert (added["balance_group"], added["services"], added["status"]) == (
        "work", ["38640555101"], "active",
    )  # fmt: skip
    after = (await admin.call("GET", f"/v1/customers/{cid}")).json()
    assert after["engine"] == "synced"
    assert [s["id"] for s in after["subscriptions"]][-1] == added["id"]
    assert [(g["name"], g["account_id"]) for g in after["balance_groups"]] == [
        ("main", account),
        ("work", f"{account}.work"),
    ]
    assert [(s["balance_group"], s["services"]) for s in after["subscriptions"]] == [
        ("main", ["38640555001"]),
        ("work", ["38640555101"]),
    ]
    engine = admin.engine
    answer = await engine.stub.ChargeEvent(sms("38640555101", "w1", engine.clock.now))
    assert (answer.result, answer.cost.minor_units) == (pb.SUCCESS, 5)
    assert await engine.balance("38640555101", "work-eur") == 295
    assert await engine.balance("38640555001", "main") == 1000  # the main group is untouched
    report = await engine.stub.GetBalances(pb.BalanceQuery(subscriber="38640555001"))
    assert [b.id for b in report.balances] == ["main"]

    live = (await admin.call("GET", f"/v1/customers/{cid}/balances")).json()["items"]
    assert [(b["balance_group"], b["id"], b["amount"]) for b in live] == [
        ("main", "main", "10.00"),
        ("work", "work-eur", "2.95"),
    ]
    groups = (await admin.call("GET", f"/v1/customers/{cid}/balance-groups")).json()["items"]
    assert [(g["name"], g["subscriptions"], g["balances"]) for g in groups] == [
        ("main", 1, 1),
        ("work", 1, 1),
    ]
    # the customer's usage spans its groups
    await admin.engine.stub.ChargeEvent(sms("38640555001", "m1", engine.clock.now))
    await admin.relay.sync_all()
    listed = await admin.call("GET", f"/v1/customers/{cid}/balances")
    assert [b["amount"] for b in listed.json()["items"]] == ["9.95", "2.95"]


async def test_subscriptions_sharing_a_group_are_rated_each_by_its_plan(admin: Admin) -> None:
    # a second plan: SMS free of charge
    document = (await admin.call("GET", "/v1/catalog")).json()["document"]
    tariffs = document["tariffs"]
    tariffs["sms-free"] = tariffs["sms-std"] | {"rates": [{"prefix": "", "price": "0", "per": 1}]}
    document["plans"]["free-sms"] = {"tariffs": {**document["plans"]["basic"]["tariffs"],
                                                 "sms": "sms-free"}}  # fmt: skip
    assert (await admin.call("PUT", "/v1/catalog", json=document)).status_code == 200
    customer = (await admin.call("POST", "/v1/customers", json=onboarding())).json()
    cid = customer["id"]
    body = second(balance_group="main", plan="free-sms", balances=[])
    response = await admin.call("POST", f"/v1/customers/{cid}/subscriptions", json=body)
    assert response.status_code == 201, response.text
    engine = admin.engine
    paid = await engine.stub.ChargeEvent(sms("38640555001", "p1", engine.clock.now))
    free = await engine.stub.ChargeEvent(sms("38640555101", "f1", engine.clock.now))
    assert (paid.cost.minor_units, free.cost.minor_units) == (5, 0)
    assert await engine.balance("38640555101", "main") == 995  # one group, one balance


async def test_adding_a_subscription_is_all_or_nothing(admin: Admin) -> None:
    customer = (await admin.call("POST", "/v1/customers", json=onboarding())).json()
    cid = customer["id"]
    bad: list[tuple[dict[str, Any], int, str]] = [
        (second(plan="nope"), 422, "body"),
        (second(currency="voice_seconds"), 422, "body.currency"),
        (second(services=["38640555001"]), 409, ""),  # the first subscription's identifier
        (second(balances=[{"id": "main", "resource": "EUR", "amount": "1"}]), 409, ""),
        (second(balance_group="main", payment_type="postpaid", balances=[]), 422,
         "body.payment_type"),
    ]  # fmt: skip
    for body, status, field in bad:
        response = await admin.call("POST", f"/v1/customers/{cid}/subscriptions", json=body)
        assert response.status_code == status, (body, response.text)
        if field:
            assert response.json()["field"] == field, response.text
    assert await admin.count("subscriptions") == 1
    assert await admin.count("balance_groups") == 1
    assert await admin.count("balances") == 1
    assert await admin.count("services") == 1
    missing = await admin.call("POST", "/v1/customers/999/subscriptions", json=second())
    assert missing.status_code == 404


async def test_a_groups_validity_bounds_its_services(admin: Admin) -> None:
    customer = (await admin.call("POST", "/v1/customers", json=onboarding())).json()
    cid = customer["id"]
    created = await admin.call(
        "POST", f"/v1/customers/{cid}/balance-groups", json={"name": "trial"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["account_id"] == f"{customer['account_id']}.trial"
    taken = await admin.call("POST", f"/v1/customers/{cid}/balance-groups", json={"name": "trial"})
    assert taken.status_code == 409
    body = second(balance_group="trial")
    assert (
        await admin.call("POST", f"/v1/customers/{cid}/subscriptions", json=body)
    ).status_code == 201
    engine = admin.engine
    ok = await engine.stub.ChargeEvent(sms("38640555101", "t1", engine.clock.now))
    assert ok.result == pb.SUCCESS
    ended = await admin.call(
        "PATCH",
        f"/v1/customers/{cid}/balance-groups/trial",
        json={"valid_to": "2020-01-01T00:00:00Z"},
    )
    assert ended.status_code == 200, ended.text
    refused = await engine.stub.ChargeEvent(sms("38640555101", "t2", engine.clock.now))
    assert refused.result != pb.SUCCESS
    still = await engine.stub.ChargeEvent(sms("38640555001", "t3", engine.clock.now))
    assert still.result == pb.SUCCESS  # the main group is not bounded by it
    unknown = await admin.call(
        "PATCH", f"/v1/customers/{cid}/balance-groups/nope", json={"valid_to": None}
    )
    assert unknown.status_code == 404
