"""Catalog objects one at a time: each change a new version, validated whole, live at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.integration.admin_harness import Admin, onboarding
from tests.integration.requests import sms

MSISDN = "38640555500"


async def test_catalog_objects_are_edited_one_by_one(admin: Admin) -> None:
    await admin.call("POST", "/v1/customers", json=onboarding(MSISDN))
    engine = admin.engine
    tariffs = (await admin.call("GET", "/v1/catalog/tariffs", "auditor")).json()
    assert {t["name"] for t in tariffs["items"]} >= {"sms-std", "voice-std"}
    sms_std = (await admin.call("GET", "/v1/catalog/tariffs/sms-std")).json()["item"]
    cheaper = {**sms_std, "rates": [{**r, "price": "0.03"} for r in sms_std["rates"]]}
    put = await admin.call("PUT", "/v1/catalog/tariffs/sms-std", json=cheaper)
    assert put.status_code == 200, put.text
    await engine.app.catalog.refresh()
    answer = await engine.stub.ChargeEvent(sms(MSISDN, "cheap", engine.clock.now))
    assert answer.cost.minor_units == 3

    broken = {**sms_std, "currency": "XYZ"}
    refused = await admin.call("PUT", "/v1/catalog/tariffs/sms-std", json=broken)
    assert refused.status_code == 422
    assert "XYZ" in refused.json()["detail"]
    in_use = await admin.call("DELETE", "/v1/catalog/tariffs/sms-std")
    assert in_use.status_code == 422  # plan basic still prices SMS with it
    assert (await admin.call("DELETE", "/v1/catalog/tariffs/nope")).status_code == 404
    assert (await admin.call("GET", "/v1/catalog/widgets")).status_code == 422
    assert (
        await admin.call("PUT", "/v1/catalog/tariffs/sms-std", "operator", json=cheaper)
    ).status_code == 403

    # two administrators editing different objects at once: neither edit is lost
    profile = {"thresholds": [{"id": "t", "resource": "EUR", "basis": "absolute", "value": "1.00"}]}
    band = {"days": ["sat", "sun"], "from": "00:00", "to": "23:59"}
    results = await asyncio.gather(
        admin.call("PUT", "/v1/catalog/credit_profiles/weekend-alerts", json=profile),
        admin.call("PUT", "/v1/catalog/time_bands/weekend", json=band),
    )
    assert [r.status_code for r in results] == [200, 200]
    document = (await admin.call("GET", "/v1/catalog")).json()["document"]
    assert "weekend-alerts" in document["credit_profiles"]
    assert "weekend" in document["time_bands"]
    versions = (await admin.call("GET", "/v1/catalog/versions")).json()["items"]
    assert len(versions) >= 4
    log = (await admin.call("GET", "/v1/audit-log", params={"object_type": "tariffs"})).json()
    (entry,) = log["items"]
    assert entry["action"] == "catalog.tariffs.put"
    assert entry["before"]["rates"][0]["price"] == "0.05"
    assert (await admin.call("DELETE", "/v1/catalog/time_bands/weekend")).status_code == 200


async def test_a_plan_in_use_cannot_leave_the_catalog(admin: Admin) -> None:
    """Neither deleted nor published away while a subscription is on it or a scheduled
    transition targets it: the engine could not rate their usage any more."""
    onboarded = await admin.call("POST", "/v1/customers", json=onboarding(MSISDN))
    customer = onboarded.json()
    plan_path = (
        f"/v1/customers/{customer['id']}/subscriptions/{customer['subscriptions'][0]['id']}/plan"
    )
    basic = (await admin.call("GET", "/v1/catalog/plans/basic")).json()["item"]
    assert (await admin.call("PUT", "/v1/catalog/plans/gold", json=basic)).status_code == 200
    version = (await admin.call("GET", "/v1/catalog")).json()["version"]

    deleted = await admin.call("DELETE", "/v1/catalog/plans/basic")
    assert deleted.status_code == 409, deleted.text
    assert deleted.headers["content-type"] == "application/problem+json"
    assert deleted.json()["detail"] == (
        "plan 'basic' is used by 1 subscription: move it to another plan first"
    )
    document = (await admin.call("GET", "/v1/catalog")).json()["document"]
    del document["plans"]["basic"]
    published = await admin.call("PUT", "/v1/catalog", json=document)
    assert published.status_code == 409, published.text
    assert "plan 'basic' is used by 1 subscription" in published.json()["detail"]

    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    scheduled = await admin.call("PUT", plan_path, json={"plan": "gold", "effective_at": later})
    assert scheduled.status_code == 200, scheduled.text
    target = await admin.call("DELETE", "/v1/catalog/plans/gold")
    assert (target.status_code, target.json()["detail"]) == (
        409,
        "plan 'gold' is used by 1 scheduled plan transition: move it to another plan first",
    )
    del document["plans"]["gold"]
    both = await admin.call("PUT", "/v1/catalog", json=document)
    assert (both.status_code, both.json()["detail"]) == (
        409,
        "plan 'basic' is used by 1 subscription; plan 'gold' is used by 1 scheduled plan"
        " transition: move them to other plans first",
    )
    assert (await admin.call("GET", "/v1/catalog")).json()["version"] == version  # unchanged

    # once nothing is on it, a plan goes like any other object
    assert (await admin.call("PUT", plan_path, json={"plan": "gold"})).status_code == 200
    assert (await admin.call("DELETE", "/v1/catalog/plans/basic")).status_code == 200
    still = (await admin.call("DELETE", "/v1/catalog/plans/gold")).json()["detail"]
    assert still == (
        "plan 'gold' is used by 1 subscription and 1 scheduled plan transition: move them to"
        " another plan first"
    )
