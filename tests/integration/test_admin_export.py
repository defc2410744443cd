"""The customers CSV with what each customer holds: one row per customer, the plans of its active
subscriptions and its services in use joined in a column each."""

from __future__ import annotations

import csv
import io

from tests.integration.admin_harness import Admin, onboarding

CSV_HEADER = [
    "id", "account_id", "status", "customer_type", "first_name", "last_name", "email", "phone",
    "organisation", "address", "city", "state", "postcode", "country", "payment_method",
    "created_at",
]  # fmt: skip


async def export(admin: Admin, **params: str) -> list[dict[str, str]]:
    answer = await admin.call("GET", "/v1/customers/export", "auditor", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(answer.text)))


async def test_the_export_can_carry_subscriptions_and_services(admin: Admin) -> None:
    body = onboarding("38640555501", subscription__services=["38640555501", "38640555502"])
    ana = (await admin.call("POST", "/v1/customers", json=body)).json()
    path = f"/v1/customers/{ana['id']}"
    second = {
        "balance_group": "work",
        "plan": "smart",
        "currency": "EUR",
        "services": ["38640555503"],
        "balances": [{"id": "work-eur", "resource": "EUR", "amount": "30.00"}],
    }
    added = await admin.call("POST", f"{path}/subscriptions", json=second)
    assert added.status_code == 201, added.text
    third = second | {"balance_group": "old", "plan": "basic", "services": ["38640555504"]}
    third["balances"] = [{"id": "old-eur", "resource": "EUR", "amount": "1.00"}]
    added = await admin.call("POST", f"{path}/subscriptions", json=third)
    assert added.status_code == 201, added.text
    held = (await admin.call("GET", path)).json()["subscriptions"]
    old = next(s["id"] for s in held if s["services"] == ["38640555504"])
    cancelled = await admin.call("POST", f"{path}/subscriptions/{old}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    suspended = await admin.call(
        "PATCH", f"{path}/services/38640555502", json={"status": "suspended"}
    )
    assert suspended.status_code == 200, suspended.text
    created = await admin.call("POST", "/v1/customers", json=onboarding("38640555505"))
    assert created.status_code == 201, created.text
    bob = created.json()
    bob_service = f"/v1/customers/{bob['id']}/services/38640555505"
    ends = {"valid_to": "2020-01-01T00:00:00Z"}  # out of its validity: not in use
    assert (await admin.call("PATCH", bob_service, json=ends)).status_code == 200

    plain = await export(admin)
    assert list(plain[0]) == CSV_HEADER  # without `include`, the columns of old
    both = {r["account_id"]: r for r in await export(admin, include="subscriptions,services")}
    assert list(both[ana["account_id"]]) == [*CSV_HEADER, "subscriptions", "services"]
    # the cancelled subscription and its service, and the suspended service, are left out
    assert both[ana["account_id"]]["subscriptions"] == "basic; smart"
    assert both[ana["account_id"]]["services"] == "38640555501; 38640555503"
    assert (both[bob["account_id"]]["subscriptions"], both[bob["account_id"]]["services"]) == (
        "basic",
        "",
    )
    only = await export(admin, include="services", sort="-id")
    assert list(only[0]) == [*CSV_HEADER, "services"]
    assert [r["account_id"] for r in only] == [bob["account_id"], ana["account_id"]]
    filtered = await export(admin, include="subscriptions", status="active", q="Novak")
    assert len(filtered) == 2

    for wrong in ("balances", "services,", "subscriptions;services", ""):
        refused = await admin.call("GET", "/v1/customers/export", params={"include": wrong})
        assert refused.status_code == 422, wrong
        assert refused.json()["field"] == "query.include"
