"""After onboarding: payment changes, plan transitions (now and scheduled), cancellation,
usage entered by hand through the engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tarif.charging.v1 import charging_pb2 as pb
from tests.integration.admin_harness import Admin, onboarding
from tests.integration.job_run_harness import run_job
from tests.integration.requests import sms

MSISDN = "38640555100"


async def onboarded(admin: Admin) -> dict[str, object]:
    response = await admin.call("POST", "/v1/customers", json=onboarding(MSISDN))
    assert response.status_code == 201, response.text
    customer: dict[str, object] = response.json()
    return customer


async def test_plan_transition_now_and_at_a_date(admin: Admin) -> None:
    customer = await onboarded(admin)
    sub = customer["subscriptions"][0]["id"]  # type: ignore[index]
    path = f"/v1/customers/{customer['id']}/subscriptions/{sub}/plan"
    assert (await admin.call("PUT", path, json={"plan": "gold"})).status_code == 422
    engine = admin.engine
    # the demo catalog has one plan; publish a second one that prices SMS higher
    document = (await admin.call("GET", "/v1/catalog")).json()["document"]
    document["tariffs"]["sms-dear"] = {**document["tariffs"]["sms-std"]}
    document["tariffs"]["sms-dear"]["rates"] = [
        {**rate, "price": "0.10"} for rate in document["tariffs"]["sms-std"]["rates"]
    ]
    document["plans"]["dear"] = {
        "tariffs": {**document["plans"]["basic"]["tariffs"], "sms": "sms-dear"}
    }
    assert (await admin.call("PUT", "/v1/catalog", json=document)).status_code == 200
    await engine.app.catalog.refresh()

    # a moment already past is refused, never applied (and paid) late; a date without a
    # time zone is no moment at all
    for moment in ("2020-01-01T00:00:00Z", (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
                   "2099-01-01T00:00:00"):  # fmt: skip
        past = await admin.call("PUT", path, json={"plan": "dear", "effective_at": moment})
        assert (past.status_code, past.json()["field"]) == (422, "body.effective_at"), past.text
    listed = (await admin.call("GET", f"/v1/customers/{customer['id']}/plan-transitions")).json()
    assert listed["items"] == []
    later = datetime.now(UTC) + timedelta(hours=1)
    scheduled = await admin.call(
        "PUT", path, json={"plan": "dear", "effective_at": later.isoformat()}
    )
    assert scheduled.json()["status"] == "scheduled"
    assert isinstance(scheduled.json()["transition_id"], int)
    answer = await engine.stub.ChargeEvent(sms(MSISDN, "before", engine.clock.now))
    assert answer.cost.minor_units == 5  # still the old plan
    # the plan-transition job applies it once due (and brings the engine up to date itself)
    ran = await run_job(admin.pool, engine.redis, "plan_transition", datetime.now(UTC))
    assert ran.total == 0  # not due yet
    ran = await run_job(admin.pool, engine.redis, "plan_transition", later)
    assert (ran.total, ran.succeeded, ran.failed) == (1, 1, 0)
    answer = await engine.stub.ChargeEvent(sms(MSISDN, "after", engine.clock.now))
    assert answer.cost.minor_units == 10
    listed = (await admin.call("GET", f"/v1/customers/{customer['id']}/plan-transitions")).json()
    assert [(t["plan"], t["status"], t["requested_by"]) for t in listed["items"]] == [
        ("dear", "done", f"key:{admin.keys['admin'][:11]}")
    ]
    now = await admin.call("PUT", path, json={"plan": "basic"})
    assert now.json() == {"plan": "basic", "status": "done"}
    answer = await engine.stub.ChargeEvent(sms(MSISDN, "back", engine.clock.now))
    assert answer.cost.minor_units == 5
    log = (await admin.call("GET", "/v1/audit-log", params={"object_type": "subscription"})).json()
    assert [(e["action"], e["actor"]) for e in log["items"]] == [
        ("subscription.plan", f"key:{admin.keys['admin'][:11]}"),
        ("subscription.plan", "system"),
        ("subscription.plan_scheduled", f"key:{admin.keys['admin'][:11]}"),
    ]


async def test_cancelling_stops_the_services_and_drops_scheduled_changes(admin: Admin) -> None:
    customer = await onboarded(admin)
    sub = customer["subscriptions"][0]["id"]  # type: ignore[index]
    base = f"/v1/customers/{customer['id']}/subscriptions/{sub}"
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    await admin.call("PUT", f"{base}/plan", json={"plan": "basic", "effective_at": later})
    cancelled = await admin.call("POST", f"{base}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["subscriptions"][0]["status"] == "cancelled"
    engine = admin.engine
    answer = await engine.stub.ChargeEvent(sms(MSISDN, "after-cancel", engine.clock.now))
    assert answer.result == pb.END_USER_SERVICE_DENIED
    assert (await admin.call("POST", f"{base}/cancel")).status_code == 409
    assert (await admin.call("PUT", f"{base}/plan", json={"plan": "basic"})).status_code == 409
    listed = (await admin.call("GET", f"/v1/customers/{customer['id']}/plan-transitions")).json()
    assert [t["status"] for t in listed["items"]] == ["cancelled"]
    other = await admin.call("POST", f"/v1/customers/{customer['id']}/subscriptions/999/cancel")
    assert other.status_code == 404


async def test_payment_change_and_a_manual_event_through_the_engine(admin: Admin) -> None:
    customer = await onboarded(admin)
    path = f"/v1/customers/{customer['id']}"
    card = {"payment": {"method": "credit_card", "holder": "Ana Novak", "gateway": "stripe",
                        "token": "tok_1Nxyz"}}  # fmt: skip
    changed = await admin.call("PUT", f"{path}/payment", json=card)
    assert changed.json()["payment"] == card["payment"]
    pan = {"payment": {**card["payment"], "token": "5555555555554444"}}
    assert (await admin.call("PUT", f"{path}/payment", json=pan)).status_code == 422
    event = {
        "request_id": "manual-1",
        "service_identifier": MSISDN,
        "service": "sms",
        "attributes": {"destination": "38641000000"},
        "event_time": datetime.fromtimestamp(admin.engine.clock.now, UTC).isoformat(),
    }
    first = await admin.call("POST", f"{path}/events", "operator", json=event)
    assert first.json() == {
        "request_id": "manual-1",
        "event_id": "manual-1",
        "result": "SUCCESS",
        "message": "",
        "cost": "0.05",
        "currency": "EUR",
    }
    again = await admin.call("POST", f"{path}/events", "operator", json=event)
    assert again.json() == first.json()
    assert await admin.engine.balance(MSISDN) == 995  # charged once
    foreign = await admin.call(
        "POST", f"{path}/events", "operator", json={**event, "service_identifier": "38699999999"}
    )
    assert (foreign.status_code, foreign.json()["field"]) == (422, "body.service_identifier")
    assert (await admin.call("POST", f"{path}/events", "auditor", json=event)).status_code == 403
    # 9.95 EUR at 0.05 an SMS: 200 of them cannot be paid, a refusal is a problem
    costly = {**event, "request_id": "manual-2", "units": 200}
    refused = await admin.call("POST", f"{path}/events", "operator", json=costly)
    assert refused.status_code == 402, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["result"] == "CREDIT_LIMIT_REACHED"
    assert refused.json()["state"] == {"event_id": "manual-2", "kept_as_unrated": False}
    assert await admin.engine.balance(MSISDN) == 995  # nothing charged
    again = await admin.call("POST", f"{path}/events", "operator", json=costly)
    assert (again.status_code, again.json()) == (402, refused.json())
    old_name = {**event, "event_id": "manual-3"}
    del old_name["request_id"]
    renamed = await admin.call("POST", f"{path}/events", "operator", json=old_name)
    assert (renamed.status_code, renamed.json()["field"]) == (422, "body.request_id")


async def test_a_manual_event_request_id_reused_for_another_event_is_a_conflict(
    admin: Admin,
) -> None:
    customer = await onboarded(admin)
    path = f"/v1/customers/{customer['id']}/events"
    event = {  # no event_time: the engine's now, which a retry need not repeat
        "request_id": "manual-9",
        "service_identifier": MSISDN,
        "service": "sms",
        "attributes": {"destination": "38641000000"},
    }
    first = await admin.call("POST", path, "operator", json=event)
    assert first.json()["result"] == "SUCCESS", first.text
    admin.engine.clock.advance(5)
    again = await admin.call("POST", path, "operator", json=event)
    assert again.json() == first.json()
    other = await admin.call("POST", path, "operator", json={**event, "units": 2})
    assert other.status_code == 409, other.text
    assert other.json()["result"] == "IDEMPOTENCY_CONFLICT"
    assert "manual-9 was already used for a different request" in other.json()["detail"]
    assert await admin.engine.balance(MSISDN) == 995  # charged once
