"""Services after onboarding: add, rename, suspend, validity, devices, remove; the engine
follows each change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from admin_api.services import queue_validity_changes
from tarif.charging.v1 import charging_pb2 as pb
from tests.integration.admin_harness import Admin, onboarding
from tests.integration.harness import account, eur
from tests.integration.requests import sms


async def charge(admin: Admin, msisdn: str, event_id: str) -> int:
    engine = admin.engine
    return int((await engine.stub.ChargeEvent(sms(msisdn, event_id, engine.clock.now))).result)


async def test_services_follow_every_change(admin: Admin) -> None:
    customer = (await admin.call("POST", "/v1/customers", json=onboarding("38640555900"))).json()
    cid, sub = customer["id"], customer["subscriptions"][0]["id"]
    base = f"/v1/customers/{cid}"
    phone = {"imei": "356938035643809", "name": "phone"}
    new = {"identifier": "38640555901", "devices": [phone]}
    added = await admin.call("POST", f"{base}/subscriptions/{sub}/services", json=new)
    assert added.status_code == 201, added.text
    assert [s["identifier"] for s in added.json()["items"]] == ["38640555900", "38640555901"]
    assert await charge(admin, "38640555901", "a1") == pb.SUCCESS

    suspended = await admin.call(
        "PATCH", f"{base}/services/38640555901", json={"status": "suspended"}
    )
    assert suspended.status_code == 200
    assert await charge(admin, "38640555901", "a2") == pb.USER_UNKNOWN
    await admin.call("PATCH", f"{base}/services/38640555901", json={"status": "active"})
    assert await charge(admin, "38640555901", "a3") == pb.SUCCESS

    renamed = await admin.call(
        "PATCH", f"{base}/services/38640555901", json={"identifier": "38640555902"}
    )
    assert renamed.status_code == 200
    assert await charge(admin, "38640555901", "a4") == pb.USER_UNKNOWN
    assert await charge(admin, "38640555902", "a5") == pb.SUCCESS

    # validity: not yet valid -> refused; once it starts, the housekeeping resyncs
    soon = datetime.now(UTC) + timedelta(hours=1)
    await admin.call("PATCH", f"{base}/services/38640555902", json={"valid_from": soon.isoformat()})
    assert await charge(admin, "38640555902", "a6") == pb.USER_UNKNOWN
    async with admin.pool.acquire() as conn:
        await conn.execute("UPDATE services SET valid_from = now() - interval '1 s'"
                           " WHERE identifier = '38640555902'")  # fmt: skip
    assert await queue_validity_changes(admin.pool, datetime.now(UTC) - timedelta(minutes=1)) == 1
    await admin.relay.drain()
    assert await charge(admin, "38640555902", "a7") == pb.SUCCESS

    assert (await admin.call("DELETE", f"{base}/services/38640555902")).status_code == 204
    assert await charge(admin, "38640555902", "a8") == pb.USER_UNKNOWN
    assert await charge(admin, "38640555900", "a9") == pb.SUCCESS
    listed = (await admin.call("GET", f"{base}/services", "auditor")).json()["items"]
    assert [s["identifier"] for s in listed] == ["38640555900"]


async def test_bad_service_changes_are_refused(admin: Admin) -> None:
    await admin.engine.provision(account("legacy2", "38640555999", eur("1.00")))
    customer = (await admin.call("POST", "/v1/customers", json=onboarding("38640555910"))).json()
    cid, sub = customer["id"], customer["subscriptions"][0]["id"]
    base = f"/v1/customers/{cid}"
    taken = await admin.call(
        "POST", f"{base}/subscriptions/{sub}/services", json={"identifier": "38640555999"}
    )
    assert taken.status_code == 409  # held by an account Redis knows
    again = await admin.call(
        "POST", f"{base}/subscriptions/{sub}/services", json={"identifier": "38640555910"}
    )
    assert again.status_code == 409
    window = {"valid_from": "2027-01-02T00:00:00Z", "valid_to": "2027-01-01T00:00:00Z"}
    assert (
        await admin.call("PATCH", f"{base}/services/38640555910", json=window)
    ).status_code == 422
    assert (await admin.call("PATCH", f"{base}/services/38640555910", json={})).status_code == 422
    assert (
        await admin.call("PATCH", f"{base}/services/nope", json={"status": "active"})
    ).status_code == 404
    bad_imei = {"identifier": "38640555911", "devices": [{"imei": "12"}]}
    assert (
        await admin.call("POST", f"{base}/subscriptions/{sub}/services", json=bad_imei)
    ).status_code == 422
