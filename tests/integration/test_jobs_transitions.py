"""What comes due at a date, done by the batch's jobs as of their "process now": scheduled plan
transitions, contract change requests (and their admin API), purchases with a future start,
and the deletion of closed accounts after their retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tarif_common import keys
from tests.integration.admin_harness import Admin, onboarding
from tests.integration.job_run_harness import Ran, run_job

HOUR = timedelta(hours=1)


def customer_body(msisdn: str, plan: str, amount: str) -> dict[str, Any]:
    """A prepaid customer on `plan` holding `amount` EUR before its plan is paid."""
    return onboarding(
        msisdn,
        subscription__plan=plan,
        subscription__balances=[{"id": "main", "resource": "EUR", "amount": amount}],
    )


async def onboard(admin: Admin, body: dict[str, Any]) -> dict[str, Any]:
    answer = await admin.call("POST", "/v1/customers", json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def products(admin: Admin, customer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    sid = customer["subscriptions"][0]["id"]
    listed = await admin.call("GET", f"/v1/customers/{customer['id']}/subscriptions/{sid}/products")
    assert listed.status_code == 200, listed.text
    return {p["product"]: p for p in listed.json()["items"]}


async def job(admin: Admin, job_type: str, at: datetime, **kw: Any) -> Ran:
    return await run_job(admin.pool, admin.engine.redis, job_type, at, **kw)


async def test_a_scheduled_plan_transition_is_applied_as_of_its_time(admin: Admin) -> None:
    msisdn = "38640558001"
    engine = admin.engine
    customer = await onboard(admin, customer_body(msisdn, "basic", "30.00"))
    cid, sid = customer["id"], customer["subscriptions"][0]["id"]
    at = (datetime.now(UTC) + HOUR).replace(microsecond=0)
    path = f"/v1/customers/{cid}/subscriptions/{sid}/plan"
    scheduled = await admin.call(
        "PUT", path, json={"plan": "smart", "effective_at": at.isoformat()}
    )
    assert scheduled.status_code == 200, scheduled.text

    assert (await job(admin, "plan_transition", at - HOUR)).total == 0  # not due yet
    other = await job(
        admin, "plan_transition", at + HOUR, criteria={"customer_types": ["business"]}
    )
    assert other.total == 0  # the criteria select other customers
    ran = await job(admin, "plan_transition", at + HOUR)
    assert (ran.total, ran.succeeded, ran.failed) == (1, 1, 0)
    # prepaid: the new bundles paid through the engine at once; they start at the effective time
    assert await engine.balance(msisdn, "main") == 3000 - 999 - 720
    bought = await products(admin, customer)
    assert {p["status"] for p in bought.values()} == {"active"}
    assert {datetime.fromisoformat(p["created_at"]) for p in bought.values()} == {at}
    assert await engine.balance(msisdn, bought["voice-100min"]["balance_id"]) == 12_000
    (done,) = (await admin.call("GET", f"/v1/customers/{cid}/plan-transitions")).json()["items"]
    assert (done["status"], datetime.fromisoformat(done["done_at"])) == ("done", at + HOUR)
    assert (await job(admin, "plan_transition", at + HOUR)).total == 0  # done once
    assert await engine.balance(msisdn, "main") == 3000 - 999 - 720


async def test_contract_changes_bad_input_writes_nothing(admin: Admin) -> None:
    customer = await onboard(admin, customer_body("38640558002", "smart", "40.00"))
    other = await onboard(admin, customer_body("38640558003", "basic", "10.00"))
    fee = (await products(admin, customer))["monthly-fee"]
    later = (datetime.now(UTC) + HOUR).isoformat()
    good = {"request_id": "c1", "customer_id": customer["id"], "purchase_id": fee["id"],
            "kind": "quantity", "quantity": 2, "effective_at": later}  # fmt: skip
    bad = [
        ({"quantity": None}, 422, "body"),  # kind quantity needs it
        ({"unit_price": "1.00"}, 422, "body"),  # a price goes with kind price only
        ({"kind": "product"}, 422, "body"),  # the quantity does not go with kind product
        ({"kind": "price", "quantity": None, "unit_price": "1.234567"}, None, None),
        ({"kind": "price", "quantity": None, "unit_price": "-1"}, 422, "body.unit_price"),
        ({"effective_at": "2020-01-01T00:00:00Z"}, 422, "body.effective_at"),
        ({"effective_at": "2099-01-01T00:00:00"}, 422, "body.effective_at"),  # no time zone
        ({"customer_id": other["id"]}, 422, "body.purchase_id"),
        ({"purchase_id": 999_999}, 422, "body.purchase_id"),
        ({"kind": "product", "quantity": None, "product": "nope"}, 422, "body.product"),
        ({"kind": "product", "quantity": None, "product": "monthly-fee"}, 422, "body.product"),
        ({"kind": "resize"}, 422, "body.kind"),
        ({"quantity": 0}, 422, "body.quantity"),
    ]
    for changes, status, field in bad:
        if status is None:
            continue  # a valid one, made below with its own request id
        answer = await admin.call("POST", "/v1/contract-changes", json=good | changes)
        assert answer.status_code == status, (changes, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["field"] == field, (changes, answer.text)
    assert await admin.count("contract_changes") == 0
    denied = await admin.call("POST", "/v1/contract-changes", "operator", json=good)
    assert denied.status_code == 403
    made = await admin.call("POST", "/v1/contract-changes", json=good)
    assert made.status_code == 201, made.text
    again = await admin.call("POST", "/v1/contract-changes", json=good)  # a retry: the same
    assert (again.status_code, again.json()) == (201, made.json())
    clash = await admin.call("POST", "/v1/contract-changes", json=good | {"quantity": 3})
    assert clash.status_code == 409
    assert await admin.count("contract_changes") == 1
    cancelled = await admin.call("POST", f"/v1/contract-changes/{made.json()['id']}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    twice = await admin.call("POST", f"/v1/contract-changes/{made.json()['id']}/cancel")
    assert twice.status_code == 409
    assert (await admin.call("GET", "/v1/contract-changes/999999")).status_code == 404
    assert (await admin.call("POST", "/v1/contract-changes/999999/cancel")).status_code == 404
    listed = await admin.call("GET", "/v1/contract-changes", "auditor", params={"status": "x"})
    assert (listed.status_code, listed.json()["field"]) == (422, "query.status")


async def test_contract_changes_are_applied_when_due_in_their_order(admin: Admin) -> None:
    msisdn = "38640558004"
    engine = admin.engine
    product = {"price": "14.99", "description": "Premium fee"}
    assert (await admin.call("PUT", "/v1/catalog/products/premium-fee", json=product)).is_success
    assert (await admin.call("PUT", "/v1/catalog/products/short-lived", json=product)).is_success
    customer = await onboard(admin, customer_body(msisdn, "smart", "40.00"))
    cid = customer["id"]
    bought = await products(admin, customer)
    fee, voice = bought["monthly-fee"], bought["voice-100min"]
    assert await engine.balance(msisdn, "main") == 4000 - 999 - 720
    now = datetime.now(UTC).replace(microsecond=0)

    async def request(request_id: str, purchase: int, kind: str, hours: float, **what: Any) -> int:
        body = {"request_id": request_id, "customer_id": cid, "purchase_id": purchase,
                "kind": kind, "effective_at": (now + hours * HOUR).isoformat(), **what}  # fmt: skip
        made = await admin.call("POST", "/v1/contract-changes", json=body)
        assert made.status_code == 201, made.text
        assert made.json()["status"] == "scheduled"
        return int(made.json()["id"])

    # asked in one order, applied in the order of their dates: the price, then the product
    swap = await request("swap", fee["id"], "product", 2, product="premium-fee")
    price = await request("price", fee["id"], "price", 1, unit_price="12.00")
    more = await request("more", voice["id"], "quantity", 1, quantity=3)
    doomed = await request("doomed", voice["id"], "product", 2.5, product="short-lived")
    ended = await request("end", voice["id"], "terminate", 3)
    assert datetime.fromisoformat((await products(admin, customer))["voice-100min"]["ends_at"]) == (
        now + 3 * HOUR
    )
    cancel = await admin.call("POST", f"/v1/contract-changes/{ended}/cancel")
    assert cancel.status_code == 200, cancel.text
    assert (await products(admin, customer))["voice-100min"]["ends_at"] is None
    scheduled = {"customer_id": cid, "status": "scheduled"}
    listed = await admin.call("GET", "/v1/contract-changes", params=scheduled)
    assert [c["id"] for c in listed.json()["items"]] == [swap, price, more, doomed]
    assert (await admin.call("DELETE", "/v1/catalog/products/short-lived")).status_code == 200

    assert (await job(admin, "contract_change", now)).total == 0  # none due yet
    ran = await job(admin, "contract_change", now + 4 * HOUR)
    assert (ran.total, ran.succeeded, ran.failed) == (4, 3, 1)
    (failed,) = ran.items
    assert (failed["object_id"], failed["error"]) == (
        str(doomed), "'short-lived' is not in the catalog",
    )  # fmt: skip
    after = await products(admin, customer)
    # quantity: priced as buying 3 at once (the offer's 10 % kept), the grant moved at once
    assert (after["voice-100min"]["quantity"], after["voice-100min"]["price"]) == (3, "10.80")
    assert await engine.balance(msisdn, voice["balance_id"]) == 18_000
    # the fee took its new unit price, then was replaced by the premium fee (paid: prepaid)
    old_fee = after["monthly-fee"]
    assert (old_fee["status"], old_fee["list_price"]) == ("cancelled", "12.00")
    assert datetime.fromisoformat(old_fee["cancelled_at"]) == now + 2 * HOUR
    premium = after["premium-fee"]
    assert (premium["status"], premium["price"]) == ("active", "14.99")
    assert datetime.fromisoformat(premium["created_at"]) == now + 2 * HOUR
    assert await engine.balance(msisdn, "main") == 4000 - 999 - 720 - 1499
    states = {c["id"]: c for c in (await admin.call("GET", "/v1/contract-changes")).json()["items"]}
    assert (states[swap]["status"], states[swap]["new_purchase_id"]) == ("done", premium["id"])
    assert states[doomed]["status"] == "failed"
    assert states[more]["adjustment_id"] is not None
    assert (await job(admin, "contract_change", now + 5 * HOUR)).total == 0  # done once
    assert await engine.balance(msisdn, "main") == 4000 - 999 - 720 - 1499


async def test_a_purchase_with_a_future_start_is_activated_when_due(admin: Admin) -> None:
    engine = admin.engine
    rich = await onboard(admin, customer_body("38640558005", "smart", "30.00"))
    poor = await onboard(admin, customer_body("38640558006", "smart", "18.19"))
    start = (datetime.now(UTC) + HOUR).replace(microsecond=0)

    async def buy(customer: dict[str, Any], request_id: str, when: str) -> Any:
        sid = customer["subscriptions"][0]["id"]
        return await admin.call(
            "POST",
            f"/v1/customers/{customer['id']}/subscriptions/{sid}/packs",
            json={"pack": "data-boost", "request_id": request_id, "start": when},
        )

    for when in ("2020-01-01T00:00:00Z", "2099-01-01T00:00:00"):
        refused = await buy(rich, "past", when)
        assert (refused.status_code, refused.json()["field"]) == (422, "body.start"), when
    assert await admin.count("purchases") == 6  # the two plans' products only
    bought = await buy(rich, "later", start.isoformat())
    assert bought.status_code == 201, bought.text
    (pack,) = bought.json()["items"]
    assert (pack["status"], datetime.fromisoformat(pack["starts_at"])) == ("scheduled", start)
    # nothing granted, nothing paid before its start
    assert await engine.balance("38640558005", "main") == 3000 - 999 - 720
    live = await admin.call("GET", f"/v1/customers/{rich['id']}/balances")
    assert pack["balance_id"] not in {b["id"] for b in live.json()["items"]}
    (unpaid,) = (await buy(poor, "later", start.isoformat())).json()["items"]

    assert (await job(admin, "deferred_activation", start - HOUR)).total == 0
    ran = await job(admin, "deferred_activation", start + HOUR)
    assert (ran.total, ran.succeeded, ran.failed) == (2, 1, 1)
    assert ran.items[0]["object_id"] == str(unpaid["id"])
    assert ran.items[0]["cause"].startswith("insufficient balance")
    activated = (await products(admin, rich))["data-1gb"]
    assert activated["status"] == "active"
    assert await engine.balance("38640558005", activated["balance_id"]) == 1073741824
    assert await engine.balance("38640558005", "main") == 3000 - 999 - 720 - 300
    assert (await products(admin, poor))["data-1gb"]["status"] == "refused"
    assert await engine.balance("38640558006", "main") == 100
    assert (await job(admin, "deferred_activation", start + 2 * HOUR)).total == 0  # once
    assert await engine.balance("38640558005", "main") == 3000 - 999 - 720 - 300


async def test_closed_accounts_are_deleted_after_their_retention(admin: Admin) -> None:
    first = await onboard(admin, customer_body("38640558007", "basic", "10.00"))
    second = await onboard(admin, customer_body("38640558008", "basic", "10.00"))
    for customer in (first, second):
        assert (await admin.call("POST", f"/v1/customers/{customer['id']}/close")).is_success
    await admin.relay.drain()
    now = datetime.now(UTC)
    assert (await job(admin, "account_deletion", now)).total == 0  # the retention runs
    after = now + timedelta(days=91)
    only_first = await job(
        admin, "account_deletion", after, criteria={"customer_ids": [first["id"]]}
    )
    assert (only_first.total, only_first.succeeded) == (1, 1)
    gone = (await admin.call("GET", f"/v1/customers/{first['id']}")).json()
    assert gone["status"] == "deleted"
    assert await admin.engine.redis.get(keys.locator(first["account_id"])) is None  # pushed
    kept = (await admin.call("GET", f"/v1/customers/{second['id']}")).json()
    assert kept["status"] == "closed"
    rest = await job(admin, "account_deletion", after)
    assert (rest.total, rest.succeeded) == (1, 1)
    assert (await job(admin, "account_deletion", after)).total == 0
