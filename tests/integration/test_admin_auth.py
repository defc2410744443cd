"""Every endpoint x every role x no key / bad key / revoked key gives the right status."""

from __future__ import annotations

import pytest

from admin_api.metrics import every_route
from tests.integration.admin_harness import Admin, onboarding

READ, OPERATE, ADMIN = {"admin", "operator", "auditor"}, {"admin", "operator"}, {"admin"}

# Who may call what: written out here, not read from the code, so a route that loses its
# guard fails this test.
EXPECTED = {
    ("GET", "/v1/customers"): READ,
    ("POST", "/v1/customers"): ADMIN,
    ("GET", "/v1/customers/export"): READ,
    ("GET", "/v1/customers/{customer_id}"): READ,
    ("PATCH", "/v1/customers/{customer_id}"): ADMIN,
    ("POST", "/v1/customers/{customer_id}/close"): ADMIN,
    ("PUT", "/v1/customers/{customer_id}/contacts"): ADMIN,
    ("GET", "/v1/customers/{customer_id}/contacts"): READ,
    ("POST", "/v1/customers/{customer_id}/contacts"): ADMIN,
    ("GET", "/v1/customers/{customer_id}/contacts/{tag}"): READ,
    ("PATCH", "/v1/customers/{customer_id}/contacts/{tag}"): ADMIN,
    ("DELETE", "/v1/customers/{customer_id}/contacts/{tag}"): ADMIN,
    ("GET", "/v1/customers/{customer_id}/notifications"): READ,
    ("PUT", "/v1/customers/{customer_id}/payment"): ADMIN,
    ("PUT", "/v1/customers/{customer_id}/subscriptions/{subscription_id}/plan"): ADMIN,
    ("POST", "/v1/customers/{customer_id}/subscriptions/{subscription_id}/cancel"): ADMIN,
    ("GET", "/v1/customers/{customer_id}/plan-transitions"): READ,
    ("POST", "/v1/customers/{customer_id}/events"): OPERATE,
    ("GET", "/v1/customers/{customer_id}/balances"): READ,
    ("POST", "/v1/customers/{customer_id}/balances"): ADMIN,
    ("POST", "/v1/customers/{customer_id}/balances/{balance_id}/adjustments"): OPERATE,
    ("GET", "/v1/customers/{customer_id}/adjustments"): READ,
    ("GET", "/v1/customers/{customer_id}/usage"): READ,
    ("GET", "/v1/customers/{customer_id}/usage/export"): READ,
    ("POST", "/v1/customers/{customer_id}/usage/adjustments"): OPERATE,
    ("GET", "/v1/usage/{event_id}/trace"): READ,
    ("GET", "/v1/customers/{customer_id}/selfcare-user"): READ,
    ("POST", "/v1/customers/{customer_id}/selfcare-user"): ADMIN,
    ("PATCH", "/v1/customers/{customer_id}/selfcare-user"): ADMIN,
    ("DELETE", "/v1/customers/{customer_id}/selfcare-user"): ADMIN,
    ("POST", "/v1/customers/{customer_id}/selfcare-user/verification"): OPERATE,
    ("POST", "/v1/customers/{customer_id}/selfcare-user/verify"): OPERATE,
    ("POST", "/v1/customers/{customer_id}/selfcare-user/password-reset"): OPERATE,
    ("POST", "/v1/customers/{customer_id}/selfcare-user/password-reset/confirm"): OPERATE,
    ("POST", "/v1/selfcare/login"): OPERATE,
    ("GET", "/v1/catalog"): READ,
    ("PUT", "/v1/catalog"): ADMIN,
    ("GET", "/v1/catalog/versions"): READ,
    ("GET", "/v1/catalog/{section}"): READ,
    ("GET", "/v1/catalog/{section}/{name}"): READ,
    ("PUT", "/v1/catalog/{section}/{name}"): ADMIN,
    ("DELETE", "/v1/catalog/{section}/{name}"): ADMIN,
    **{
        (method, f"/v1/{kind}{suffix}"): roles
        for kind in ("customer-types", "custom-attributes", "ledgers", "taxes", "mail-templates")
        for method, suffix, roles in (
            ("GET", "", READ),
            ("GET", "/{name}", READ),
            ("PUT", "/{name}", ADMIN),
            ("DELETE", "/{name}", ADMIN),
        )
    },
    ("GET", "/v1/sharing-groups"): READ,
    ("POST", "/v1/sharing-groups"): ADMIN,
    ("GET", "/v1/sharing-groups/{group_id}"): READ,
    ("PATCH", "/v1/sharing-groups/{group_id}"): ADMIN,
    ("PUT", "/v1/sharing-groups/{group_id}/members/{customer_id}"): ADMIN,
    ("DELETE", "/v1/sharing-groups/{group_id}/members/{customer_id}"): ADMIN,
    ("GET", "/v1/hierarchy-groups"): READ,
    ("POST", "/v1/hierarchy-groups"): ADMIN,
    ("GET", "/v1/hierarchy-groups/{group_id}"): READ,
    ("PATCH", "/v1/hierarchy-groups/{group_id}"): ADMIN,
    ("PUT", "/v1/hierarchy-groups/{group_id}/members/{customer_id}"): ADMIN,
    ("DELETE", "/v1/hierarchy-groups/{group_id}/members/{customer_id}"): ADMIN,
    ("GET", "/v1/vouchers"): READ,
    ("POST", "/v1/vouchers"): ADMIN,
    ("GET", "/v1/vouchers/{code}"): READ,
    ("DELETE", "/v1/vouchers/{code}"): ADMIN,
    ("GET", "/v1/coupons"): READ,
    ("POST", "/v1/coupons"): ADMIN,
    ("GET", "/v1/coupons/{code}"): READ,
    ("DELETE", "/v1/coupons/{code}"): ADMIN,
    ("POST", "/v1/customers/{customer_id}/vouchers"): OPERATE,
    ("GET", "/v1/customers/{customer_id}/services"): READ,
    ("GET", "/v1/customers/{customer_id}/balance-groups"): READ,
    ("POST", "/v1/customers/{customer_id}/balance-groups"): ADMIN,
    ("PATCH", "/v1/customers/{customer_id}/balance-groups/{name}"): ADMIN,
    ("POST", "/v1/customers/{customer_id}/subscriptions"): ADMIN,
    ("GET", "/v1/customers/{customer_id}/subscriptions/{subscription_id}/products"): READ,
    ("POST", "/v1/customers/{customer_id}/subscriptions/{subscription_id}/packs"): ADMIN,
    (
        "PATCH",
        "/v1/customers/{customer_id}/subscriptions/{subscription_id}/products/{purchase_id}",
    ): ADMIN,
    (
        "POST",
        "/v1/customers/{customer_id}/subscriptions/{subscription_id}/products/{purchase_id}/cancel",
    ): ADMIN,
    ("POST", "/v1/customers/{customer_id}/subscriptions/{subscription_id}/vouchers"): OPERATE,
    ("GET", "/v1/customers/{customer_id}/billing-profiles"): READ,
    ("POST", "/v1/customers/{customer_id}/billing-profiles"): ADMIN,
    ("PATCH", "/v1/customers/{customer_id}/billing-profiles/{profile_id}"): ADMIN,
    ("GET", "/v1/customers/{customer_id}/mandates"): READ,
    ("GET", "/v1/billing-profiles/{profile_id}/bills"): READ,
    ("POST", "/v1/billing-profiles/{profile_id}/run-billing"): OPERATE,
    ("POST", "/v1/billing-profiles/{profile_id}/bill-now"): OPERATE,
    ("GET", "/v1/billing-profiles/{profile_id}/invoice-preview"): READ,
    ("GET", "/v1/billing-profiles/{profile_id}/payments"): READ,
    ("POST", "/v1/billing-profiles/{profile_id}/payments"): OPERATE,
    ("GET", "/v1/payments/{payment_id}"): READ,
    ("GET", "/v1/bills/{bill_id}"): READ,
    ("GET", "/v1/bills/{bill_id}/items"): READ,
    ("GET", "/v1/bills/{bill_id}/adjustments"): READ,
    ("POST", "/v1/bills/{bill_id}/adjustments"): OPERATE,
    ("GET", "/v1/invoices"): READ,
    ("GET", "/v1/invoices/export"): READ,
    ("GET", "/v1/invoices/{invoice_id}"): READ,
    ("GET", "/v1/invoices/{invoice_id}/document"): READ,
    ("POST", "/v1/invoices/{invoice_id}/regenerate"): OPERATE,
    ("POST", "/v1/invoices/{invoice_id}/email"): OPERATE,
    ("GET", "/v1/email-log"): READ,
    ("GET", "/v1/email-log/{email_id}"): READ,
    ("POST", "/v1/email-log/{email_id}/resend"): OPERATE,
    ("GET", "/v1/sepa/collections"): READ,
    ("POST", "/v1/sepa/collections"): ADMIN,
    ("GET", "/v1/sepa/collections/{collection_id}"): READ,
    ("GET", "/v1/sepa/collections/{collection_id}/file"): READ,
    ("POST", "/v1/sepa/collections/{collection_id}/results"): ADMIN,
    ("GET", "/v1/payment-attempts"): READ,
    ("POST", "/v1/payment-attempts/{attempt_id}/retry"): OPERATE,
    ("POST", "/v1/customers/{customer_id}/subscriptions/{subscription_id}/services"): ADMIN,
    ("PATCH", "/v1/customers/{customer_id}/services/{identifier}"): ADMIN,
    ("DELETE", "/v1/customers/{customer_id}/services/{identifier}"): ADMIN,
    ("GET", "/v1/unrated-events"): READ,
    ("GET", "/v1/unrated-events/{event_id}"): READ,
    ("PATCH", "/v1/unrated-events/{event_id}"): OPERATE,
    ("POST", "/v1/unrated-events/{event_id}/rerate"): OPERATE,
    ("GET", "/v1/financial-reports"): READ,
    ("GET", "/v1/financial-reports/{report_id}"): READ,
    ("GET", "/v1/notification-deliveries"): READ,
    ("POST", "/v1/notification-deliveries/resend"): OPERATE,
    ("POST", "/v1/notification-deliveries/{delivery_id}/resend"): OPERATE,
    ("GET", "/v1/reminder-terms"): READ,
    ("POST", "/v1/reminder-terms"): ADMIN,
    ("GET", "/v1/reminder-terms/{code}"): READ,
    ("PATCH", "/v1/reminder-terms/{code}"): ADMIN,
    ("DELETE", "/v1/reminder-terms/{code}"): ADMIN,
    ("PUT", "/v1/reminder-terms/{code}/levels/{level}"): ADMIN,
    ("DELETE", "/v1/reminder-terms/{code}/levels/{level}"): ADMIN,
    ("GET", "/v1/reminder-automations"): READ,
    ("POST", "/v1/reminder-automations"): ADMIN,
    ("GET", "/v1/reminder-automations/{automation_id}"): READ,
    ("PATCH", "/v1/reminder-automations/{automation_id}"): ADMIN,
    ("DELETE", "/v1/reminder-automations/{automation_id}"): ADMIN,
    ("POST", "/v1/reminder-automations/{automation_id}/actions"): ADMIN,
    ("PATCH", "/v1/reminder-automations/{automation_id}/actions/{action_id}"): ADMIN,
    ("DELETE", "/v1/reminder-automations/{automation_id}/actions/{action_id}"): ADMIN,
    ("POST", "/v1/reminder-automations/{automation_id}/actions/{action_id}/move-up"): ADMIN,
    ("POST", "/v1/reminder-automations/{automation_id}/actions/{action_id}/move-down"): ADMIN,
    ("POST", "/v1/reminder-automations/{automation_id}/start"): OPERATE,
    ("GET", "/v1/reminder-automations/{automation_id}/runs"): READ,
    ("GET", "/v1/reminders"): READ,
    ("GET", "/v1/reminders/{reminder_id}"): READ,
    ("POST", "/v1/reminders/{reminder_id}/cancel"): OPERATE,
    ("PUT", "/v1/billing-profiles/{profile_id}/reminder-terms"): ADMIN,
    ("PUT", "/v1/invoices/{invoice_id}/reminder-hold"): OPERATE,
    ("DELETE", "/v1/invoices/{invoice_id}/reminder-hold"): OPERATE,
    ("GET", "/v1/api-keys"): ADMIN,
    ("POST", "/v1/api-keys"): ADMIN,
    ("DELETE", "/v1/api-keys/{prefix}"): ADMIN,
    ("GET", "/v1/audit-log"): READ,
    ("GET", "/v1/jobs"): READ,
    ("POST", "/v1/jobs"): OPERATE,
    ("GET", "/v1/jobs/{job_id}"): READ,
    ("PATCH", "/v1/jobs/{job_id}"): OPERATE,
    ("DELETE", "/v1/jobs/{job_id}"): OPERATE,
    ("POST", "/v1/jobs/{job_id}/pause"): OPERATE,
    ("POST", "/v1/jobs/{job_id}/resume"): OPERATE,
    ("POST", "/v1/jobs/{job_id}/runs"): OPERATE,
    ("GET", "/v1/job-runs"): READ,
    ("GET", "/v1/job-runs/{run_id}"): READ,
    ("GET", "/v1/job-runs/{run_id}/items"): READ,
    ("POST", "/v1/job-runs/{run_id}/retry"): OPERATE,
    ("GET", "/v1/alerts"): READ,
    ("POST", "/v1/alerts/{alert_id}/acknowledge"): OPERATE,
    ("GET", "/v1/activity-log"): READ,
    ("GET", "/v1/contract-changes"): READ,
    ("POST", "/v1/contract-changes"): ADMIN,
    ("GET", "/v1/contract-changes/{change_id}"): READ,
    ("POST", "/v1/contract-changes/{change_id}/cancel"): ADMIN,
}

# Answered without a key, and outside the matrix: the probes and metrics (docs/health.md) and the
# API's own description.
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
}

PATH_VALUES = {
    "customer_id": "1",
    "subscription_id": "1",
    "balance_id": "main",
    "section": "time_bands",
    "code": "CODE1",
    "identifier": "38640555001",
    "group_id": "family",
    "profile_id": "1",
    "purchase_id": "1",
    "name": "vip",
    "event_id": "1",
    "prefix": "tk_00000000",
    "payment_id": "1",
    "bill_id": "1",
    "invoice_id": "1",
    "email_id": "1",
    "tag": "billing",
    "collection_id": "1",
    "job_id": "1",
    "run_id": "1",
    "alert_id": "1",
    "report_id": "1",
    "delivery_id": "1",
    "change_id": "1",
    "level": "1",
    "automation_id": "1",
    "action_id": "1",
    "reminder_id": "1",
    "attempt_id": "1",
}


async def test_the_matrix_covers_every_endpoint(admin: Admin) -> None:
    paths = (await admin.client.get("/openapi.json")).json()["paths"]
    published = sorted((m.upper(), p) for p, ops in paths.items() for m in ops)
    assert sorted(EXPECTED) == published


async def test_every_route_is_in_the_matrix_or_public(admin: Admin) -> None:
    """Routes kept out of the OpenAPI document too: none escapes the matrix unnoticed."""
    served = {
        (method, route.path_format)
        for route in every_route(admin.app.router)
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert sorted(served) == sorted(set(EXPECTED) | PUBLIC)


@pytest.mark.parametrize(("method", "path"), sorted(PUBLIC))
async def test_the_public_routes_answer_without_a_key(admin: Admin, method: str, path: str) -> None:
    response = await admin.client.request(method, path)
    assert response.status_code == 200, (method, path, response.text)


@pytest.mark.parametrize(("method", "path"), sorted(EXPECTED))
async def test_every_endpoint_checks_key_and_role(admin: Admin, method: str, path: str) -> None:
    await admin.call("POST", "/v1/customers", json=onboarding())
    url = path.format(**PATH_VALUES)
    body = {"contacts": []} if path.endswith("contacts") else {}
    for headers in ({}, {"X-API-Key": "tk_nope_nope"}, {"X-API-Key": ""}):
        response = await admin.client.request(method, url, headers=headers, json=body)
        assert response.status_code == 401, (method, url, headers)
        assert response.headers["content-type"] == "application/problem+json"
    for role in ("admin", "operator", "auditor"):
        response = await admin.call(method, url, role, json=body)
        if role in EXPECTED[(method, path)]:
            assert response.status_code not in (401, 403), (method, url, role, response.text)
        else:
            assert response.status_code == 403, (method, url, role, response.text)


async def test_a_revoked_key_stops_working(admin: Admin) -> None:
    created = (await admin.call("POST", "/v1/api-keys", json={"role": "auditor"})).json()
    headers = {"X-API-Key": created["key"]}
    assert (await admin.client.get("/v1/customers", headers=headers)).status_code == 200
    listed = (await admin.call("GET", "/v1/api-keys")).json()["items"]
    assert created["prefix"] in [k["prefix"] for k in listed]
    assert all("key" not in k and "hash" not in k for k in listed)
    assert (await admin.call("DELETE", f"/v1/api-keys/{created['prefix']}")).status_code == 204
    assert (await admin.client.get("/v1/customers", headers=headers)).status_code == 401
