"""Hierarchy groups: one level, one hierarchy per customer, the owner's profile pays."""

from __future__ import annotations

from tests.integration.admin_harness import Admin, onboarding


async def test_hierarchy_groups(admin: Admin) -> None:
    ids = []
    for i in range(4):
        created = await admin.call("POST", "/v1/customers", json=onboarding(f"3864055900{i}"))
        ids.append(created.json()["id"])
    owner, a, b, other = ids
    body = {"id": "acme", "owner_id": owner, "members": [a]}
    created = await admin.call("POST", "/v1/hierarchy-groups", json=body)
    assert created.status_code == 201, created.text
    profiles = (await admin.call("GET", f"/v1/customers/{owner}/billing-profiles")).json()["items"]
    assert created.json()["billing_profile_id"] == profiles[0]["id"]
    assert (await admin.call("PUT", f"/v1/hierarchy-groups/acme/members/{b}")).status_code == 200
    group = (await admin.call("GET", "/v1/hierarchy-groups/acme", "auditor")).json()
    assert [m["customer_id"] for m in group["members"]] == [a, b]
    # one hierarchy per customer; one level deep
    second = {"id": "other", "owner_id": other, "members": [a]}
    assert (await admin.call("POST", "/v1/hierarchy-groups", json=second)).status_code == 409
    assert (
        await admin.call("POST", "/v1/hierarchy-groups", json={"id": "x", "owner_id": b})
    ).status_code == 409
    assert (
        await admin.call("PUT", f"/v1/hierarchy-groups/acme/members/{owner}")
    ).status_code == 422
    foreign = (await admin.call("GET", f"/v1/customers/{other}/billing-profiles")).json()["items"]
    wrong = await admin.call("PATCH", "/v1/hierarchy-groups/acme",
                             json={"billing_profile_id": foreign[0]["id"]})  # fmt: skip
    assert (wrong.status_code, wrong.json()["field"]) == (422, "body.billing_profile_id")
    assert (await admin.call("DELETE", f"/v1/hierarchy-groups/acme/members/{a}")).status_code == 200
    assert (await admin.call("DELETE", f"/v1/hierarchy-groups/acme/members/{a}")).status_code == 404
    cancelled = await admin.call("PATCH", "/v1/hierarchy-groups/acme", json={"status": "cancelled"})
    assert cancelled.json()["status"] == "cancelled"
    assert (
        await admin.call("PATCH", "/v1/hierarchy-groups/acme", json={"status": None})
    ).status_code == 422
    assert (await admin.call("GET", "/v1/hierarchy-groups/none")).status_code == 404
    listed = (await admin.call("GET", "/v1/hierarchy-groups")).json()["items"]
    assert [(g["id"], g["members"]) for g in listed] == [("acme", 1)]
