"""Billing profiles: the default one from onboarding, more added, changed within the rules."""

from __future__ import annotations

from tests.integration.admin_harness import Admin, onboarding


async def test_billing_profiles(admin: Admin) -> None:
    customer = (await admin.call("POST", "/v1/customers", json=onboarding("38640558001"))).json()
    path = f"/v1/customers/{customer['id']}/billing-profiles"
    (default,) = (await admin.call("GET", path, "auditor")).json()["items"]
    assert (default["name"], default["interval"], default["billing_day"]) == (
        "default",
        "monthly",
        1,
    )
    assert (default["pending_total"], default["credit_balance"]) == ("0", "0")
    assert customer["subscriptions"][0]["billing_profile_id"] == default["id"]
    business = {"name": "company", "currency": "EUR", "interval": "quarterly", "billing_day": 15}
    created = await admin.call("POST", path, json=business)
    assert created.status_code == 201, created.text
    assert (await admin.call("POST", path, json=business)).status_code == 409
    assert (
        await admin.call("POST", path, json={**business, "name": "x", "currency": "voice_seconds"})
    ).status_code == 422
    assert (
        await admin.call("POST", path, json={**business, "name": "y", "billing_day": 31})
    ).status_code == 422
    changed = await admin.call("PATCH", f"{path}/{default['id']}", json={"billing_day": 10})
    assert changed.json()["billing_day"] == 10
    window = {"valid_from": "2027-02-01T00:00:00Z", "valid_to": "2027-01-01T00:00:00Z"}
    assert (await admin.call("PATCH", f"{path}/{default['id']}", json=window)).status_code == 422
    assert (await admin.call("PATCH", f"{path}/999", json={"billing_day": 2})).status_code == 404
    cleared = await admin.call("PATCH", f"{path}/{default['id']}", json={"billing_day": None})
    assert (cleared.status_code, cleared.json()["field"]) == (422, "body.billing_day")
    assert (
        await admin.call("PATCH", f"{path}/{default['id']}", "operator", json={"billing_day": 2})
    ).status_code == 403
    names = [p["name"] for p in (await admin.call("GET", path)).json()["items"]]
    assert names == ["default", "company"]
