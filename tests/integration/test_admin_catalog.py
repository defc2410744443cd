"""Catalog objects one at a time: each change a new version, validated whole, live at once."""

from __future__ import annotations

import asyncio

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
