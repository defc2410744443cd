"""Closed accounts are deleted after their retention: personal data erased, engine account
gone, the records that must stay kept."""

from __future__ import annotations

from tarif.charging.v1 import charging_pb2 as pb
from tarif_billing.retention import delete_due
from tarif_common import keys
from tests.integration.admin_harness import Admin, onboarding
from tests.integration.requests import sms

MSISDN, MEMBER, OWNER = "38640557001", "38640557002", "38640557003"


async def test_a_closed_account_is_deleted_when_its_retention_ends(admin: Admin) -> None:
    engine = admin.engine
    customer = (await admin.call("POST", "/v1/customers", json=onboarding(MSISDN))).json()
    owner = (await admin.call("POST", "/v1/customers", json=onboarding(OWNER))).json()
    member = (await admin.call("POST", "/v1/customers", json=onboarding(MEMBER))).json()
    group = {"id": "fam", "owner_id": owner["id"], "policy": {"resources": {"EUR": {}}},
             "members": [{"customer_id": member["id"]}]}  # fmt: skip
    assert (await admin.call("POST", "/v1/sharing-groups", json=group)).status_code == 201
    await engine.stub.ChargeEvent(sms(MSISDN, "before", engine.clock.now))
    path = f"/v1/customers/{customer['id']}"
    login = {"email": "x@y.si", "password": "0123456789ab"}
    assert (await admin.call("POST", f"{path}/selfcare-user", json=login)).status_code == 201
    mailed = await admin.call("POST", f"{path}/selfcare-user/verification", "operator")
    assert mailed.status_code == 200  # no notifier runs here: the mail stays pending
    assert (await admin.call("POST", f"{path}/close")).status_code == 200
    assert (await admin.call("POST", f"/v1/customers/{owner['id']}/close")).status_code == 200
    assert await delete_due(admin.pool) == []  # not due yet
    async with admin.pool.acquire() as conn:
        await conn.execute("UPDATE customers SET delete_after = now() WHERE status = 'closed'")
    deleted = await delete_due(admin.pool)
    assert sorted(deleted) == sorted([customer["account_id"], owner["account_id"]])
    await admin.relay.drain()
    gone = (await admin.call("GET", path)).json()
    assert (gone["status"], gone["account"]["email"], gone["account"]["full_name"]) == (
        "deleted", "", "deleted ",
    )  # fmt: skip
    assert gone["subscriptions"][0]["status"] == "cancelled"
    assert gone["balances"] == []
    assert gone["contacts"] == []
    assert (await admin.call("GET", f"{path}/selfcare-user")).status_code == 404
    async with admin.pool.acquire() as conn:  # the unsent self-care mail: skipped, erased
        mail = await conn.fetchrow(
            "SELECT d.status, d.recipient, m.token FROM notification_deliveries d"
            " JOIN selfcare_mails m ON m.id = d.selfcare_mail_id WHERE d.id = $1",
            mailed.json()["delivery_id"],
        )
    assert dict(mail) == {"status": "skipped", "recipient": "", "token": None}
    assert await engine.redis.get(keys.locator(customer["account_id"])) is None
    assert await engine.redis.get(keys.route(MSISDN)) is None
    answer = await engine.stub.ChargeEvent(sms(MSISDN, "after", engine.clock.now))
    assert answer.result == pb.USER_UNKNOWN
    # the member of the deleted owner's group is on its own again, still chargeable
    assert (await engine.stub.ChargeEvent(sms(MEMBER, "m", engine.clock.now))).result == pb.SUCCESS
    fam = (await admin.call("GET", "/v1/sharing-groups/fam")).json()
    assert (fam["status"], fam["members"]) == ("cancelled", [])
    async with admin.pool.acquire() as conn:
        pending = await conn.fetchval("SELECT count(*) FROM outbox WHERE applied_at IS NULL")
    assert pending == 0  # every Redis change went through
    assert (await admin.call("PATCH", path, json={"city": "X"})).status_code == 409
    assert (await admin.call("POST", f"{path}/close")).status_code == 409
    listed = (await admin.call("GET", "/v1/customers", params={"status": "deleted"})).json()
    assert len(listed["items"]) == 2
