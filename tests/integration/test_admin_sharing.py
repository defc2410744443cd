"""Sharing groups through the admin API: Postgres and the engine move together."""

from __future__ import annotations

from typing import Any

from tarif.charging.v1 import charging_pb2 as pb
from tarif_common import keys
from tests.integration.admin_harness import Admin, onboarding

OWNER, MEMBER, OTHER = "38640556001", "38640556002", "38640556003"


async def customer(admin: Admin, msisdn: str, amount: str) -> int:
    body = onboarding(msisdn)
    body["subscription"]["balances"] = [{"id": "main", "resource": "EUR", "amount": amount}]
    response = await admin.call("POST", "/v1/customers", json=body)
    assert response.status_code == 201, response.text
    customer_id: int = response.json()["id"]
    return customer_id


async def sms_result(admin: Admin, msisdn: str, event_id: str) -> Any:
    from tests.integration.requests import sms

    engine = admin.engine
    return (await engine.stub.ChargeEvent(sms(msisdn, event_id, engine.clock.now))).result


async def test_a_member_uses_the_pool_within_its_cap_and_the_group_follows_changes(
    admin: Admin,
) -> None:
    owner = await customer(admin, OWNER, "10.00")
    member = await customer(admin, MEMBER, "0.00")
    group = {
        "id": "family-1",
        "owner_id": owner,
        "policy": {"order": "own_first", "resources": {"EUR": {"cap": "0.10"}}},
        "members": [{"customer_id": member}],
    }
    created = await admin.call("POST", "/v1/sharing-groups", json=group)
    assert created.status_code == 201, created.text
    assert [m["customer_id"] for m in created.json()["members"]] == [member]
    assert await sms_result(admin, MEMBER, "m1") == pb.SUCCESS  # from the owner's pool
    assert await sms_result(admin, MEMBER, "m2") == pb.SUCCESS
    assert await sms_result(admin, MEMBER, "m3") == pb.CREDIT_LIMIT_REACHED  # cap 0.10 reached
    assert await admin.engine.balance(OWNER) == 990

    base = f"/v1/sharing-groups/family-1/members/{member}"
    raised = await admin.call("PATCH", "/v1/sharing-groups/family-1",
                              json={"policy": {"resources": {"EUR": {"cap": "0.20"}}}})  # fmt: skip
    assert raised.status_code == 200, raised.text
    assert await sms_result(admin, MEMBER, "m4") == pb.SUCCESS
    assert (await admin.call("PUT", base, json={"status": "suspended"})).status_code == 200
    assert await sms_result(admin, MEMBER, "m5") == pb.CREDIT_LIMIT_REACHED  # own only: 0.00
    assert (await admin.call("PUT", base, json={"status": "active"})).status_code == 200
    assert await sms_result(admin, MEMBER, "m6") == pb.SUCCESS
    left = await admin.call("DELETE", base)
    assert left.json()["members"] == []
    assert await sms_result(admin, MEMBER, "m7") == pb.CREDIT_LIMIT_REACHED
    cancelled = await admin.call(
        "PATCH", "/v1/sharing-groups/family-1", json={"status": "cancelled"}
    )
    assert cancelled.json()["status"] == "cancelled"
    log = (await admin.call("GET", "/v1/audit-log", params={"object_type": "sharing_group"})).json()
    assert [e["action"] for e in log["items"]][:3] == [
        "sharing.update",
        "sharing.leave",
        "sharing.member",
    ]


async def test_bad_groups_are_refused_and_leave_nothing(admin: Admin) -> None:
    owner = await customer(admin, OWNER, "10.00")
    member = await customer(admin, MEMBER, "0.00")
    other_owner = await customer(admin, OTHER, "5.00")
    policy = {"resources": {"EUR": {"cap": "1.00"}}}
    first = {"id": "g1", "owner_id": owner, "policy": policy, "members": [{"customer_id": member}]}
    assert (await admin.call("POST", "/v1/sharing-groups", json=first)).status_code == 201
    # a member of two groups
    second = {"id": "g2", "owner_id": other_owner, "policy": policy,
              "members": [{"customer_id": member}]}  # fmt: skip
    refused = await admin.call("POST", "/v1/sharing-groups", json=second)
    assert refused.status_code == 409
    negative = {**second, "members": [], "policy": {"resources": {"EUR": {"cap": "-1.00"}}}}
    bad = await admin.call("POST", "/v1/sharing-groups", json=negative)
    assert bad.status_code == 422
    assert "cap" in bad.json()["detail"]
    unknown = {**second, "members": [], "policy": {"resources": {"GOLD": {"cap": "1"}}}}
    assert (await admin.call("POST", "/v1/sharing-groups", json=unknown)).status_code == 422
    for response in (refused, bad):
        assert response.headers["content-type"] == "application/problem+json"
    listed = (await admin.call("GET", "/v1/sharing-groups")).json()["items"]
    assert [g["id"] for g in listed] == ["g1"]  # nothing of g2 in Postgres...
    partitions = admin.engine.app.partitions
    assert all([
        not await admin.engine.redis.exists(keys.group(p, "g2")) for p in range(partitions)
    ])  # ...nor in Redis  # fmt: skip
    assert (await admin.call("GET", "/v1/sharing-groups/nope")).status_code == 404
    assert (
        await admin.call("DELETE", f"/v1/sharing-groups/g1/members/{other_owner}")
    ).status_code == 404


async def test_onboarding_joins_a_sharing_group_and_a_hierarchy_all_or_nothing(
    admin: Admin,
) -> None:
    owner = await customer(admin, OWNER, "10.00")
    group = {"id": "family-2", "owner_id": owner,
             "policy": {"order": "pool_first", "resources": {"EUR": {}}}}  # fmt: skip
    assert (await admin.call("POST", "/v1/sharing-groups", json=group)).status_code == 201
    hierarchy = {"id": "acme", "owner_id": owner}
    assert (await admin.call("POST", "/v1/hierarchy-groups", json=hierarchy)).status_code == 201
    body = onboarding(MEMBER) | {"account_id": "member-1"}
    body["subscription"]["balances"] = [{"id": "main", "resource": "EUR", "amount": "0.00"}]
    unknown = await admin.call("POST", "/v1/customers", json=body | {"sharing": {"group": "nope"}})
    assert (unknown.status_code, unknown.json()["field"]) == (422, "body.sharing.group")
    assert await admin.count("customers") == 1
    joined = await admin.call(
        "POST",
        "/v1/customers",
        json=body | {"sharing": {"group": "family-2"}, "hierarchy": {"group": "acme"}},
    )
    assert joined.status_code == 201, joined.text
    member = joined.json()["id"]
    assert await sms_result(admin, MEMBER, "j1") == pb.SUCCESS  # charged to the owner's pool
    assert await admin.engine.balance(OWNER) == 995
    shown = (await admin.call("GET", "/v1/sharing-groups/family-2")).json()
    assert [m["customer_id"] for m in shown["members"]] == [member]
    tree = (await admin.call("GET", "/v1/hierarchy-groups/acme")).json()
    assert [m["customer_id"] for m in tree["members"]] == [member]
