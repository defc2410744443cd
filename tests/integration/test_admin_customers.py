"""Onboarding through the admin API: all or nothing, chargeable at once, bad input refused."""

from __future__ import annotations

from typing import Any

import pytest

from tarif.charging.v1 import charging_pb2 as pb
from tarif_billing.document import Party
from tarif_billing.parties import buyer_party
from tarif_common import keys
from tests.integration.admin_harness import Admin, onboarding
from tests.integration.harness import account, eur
from tests.integration.requests import sms

PROBLEM = "application/problem+json"


async def test_an_onboarded_customer_can_be_charged_right_away(admin: Admin) -> None:
    response = await admin.call("POST", "/v1/customers", json=onboarding())
    assert response.status_code == 201, response.text
    customer = response.json()
    assert customer["engine"] == "synced"
    assert customer["account_id"] == f"C{customer['id']}"
    assert customer["account"]["full_name"] == "Ana Novak"
    assert customer["payment"] == {
        "method": "direct_debit",
        "mandate_id": "MANDATE-38640555001",
        "signature_date": "2026-01-15",
        "iban": "SI56191000000123438",
        "bic": "BAKOSI2X",
    }
    (subscription,) = customer["subscriptions"]
    assert (subscription["plan"], subscription["services"]) == ("basic", ["38640555001"])
    assert customer["balances"][0]["amount"] == "10.00"
    engine = admin.engine
    answer = await engine.stub.ChargeEvent(sms("38640555001", "first", engine.clock.now))
    assert (answer.result, answer.cost.minor_units) == (pb.SUCCESS, 5)
    assert await engine.balance("38640555001") == 995
    # A replay of the outbox (a crash before it was marked applied) keeps the live amount.
    async with admin.pool.acquire() as conn:
        await conn.execute("UPDATE outbox SET applied_at = NULL")
    assert await admin.relay.drain() == 2  # the catalog and the account
    assert await engine.balance("38640555001") == 995
    log = (await admin.call("GET", "/v1/audit-log", params={"object_type": "customer"})).json()
    (entry,) = log["items"]
    assert (entry["action"], entry["object_id"], entry["role"]) == (
        "customer.onboard",
        str(customer["id"]),
        "admin",
    )
    assert entry["before"] is None
    assert entry["after"]["account"]["email"] == "ana.novak@example.com"


async def nothing_written(admin: Admin) -> None:
    for table in ("customers", "subscriptions", "services", "balances", "outbox_accounts"):
        if table == "outbox_accounts":
            async with admin.pool.acquire() as conn:
                n = await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'account'")
        else:
            n = await admin.count(table)
        assert n == 0, table
    async with admin.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM account_contacts") == 0
        assert (
            await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'customer.onboard'")
            == 0
        )


async def test_a_failure_halfway_leaves_nothing_in_postgres_or_redis(admin: Admin) -> None:
    engine = admin.engine
    # The identifier belongs to an account Redis knows (provisioned from a file).
    await engine.provision(account("legacy", "38640555999", eur("1.00")))
    body = onboarding(subscription__services=["38640555002", "38640555999"])
    response = await admin.call("POST", "/v1/customers", json=body)
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert "38640555999" in response.json()["detail"]
    await nothing_written(admin)
    assert await engine.redis.get(keys.route("38640555002")) is None
    # Duplicate inside Postgres: the second customer's services collide with the first's.
    first = await admin.call("POST", "/v1/customers", json=onboarding("38640555003"))
    assert first.status_code == 201
    second = onboarding("38640555004", account_id="ACME-2")
    second["subscription"]["services"].append("38640555003")
    response = await admin.call("POST", "/v1/customers", json=second)
    assert response.status_code == 409
    assert await admin.count("customers") == 1
    assert await engine.redis.get(keys.locator("ACME-2")) is None
    assert await engine.redis.get(keys.route("38640555004")) is None


BAD: list[tuple[dict[str, Any], int, str]] = [
    (onboarding(account__email="not-an-email"), 422, "body.account.email"),
    (onboarding(account__country="Slovenia"), 422, "body.account.country"),
    (onboarding(account__first_name="x" * 101), 422, "body.account.first_name"),
    (onboarding(account__phone=38640), 422, "body.account.phone"),
    (onboarding(account__customer_type="martian"), 422, "body.account.customer_type"),
    (onboarding(account__custom_attributes={"shoe_size": 42}), 422,
     "body.account.custom_attributes.shoe_size"),
    (onboarding(payment__iban="SI56 1910 0000 0123 439"), 422, "body.payment.direct_debit.iban"),
    (onboarding(payment__bic="NOTABIC"), 422, "body.payment.direct_debit.bic"),
    (onboarding(payment={"method": "credit_card", "holder": "Ana", "gateway": "stripe",
                         "token": "4111 1111 1111 1111"}), 422, "body.payment.credit_card.token"),
    (onboarding(payment={"method": "cash"}), 422, "body.payment"),
    (onboarding(payment__tax_id="DE136695977"), 422, "body.payment.direct_debit.tax_id"),
    (onboarding(payment__billing_address={"city": "Maribor", "country": "SI"}), 422,
     "body.payment.direct_debit.billing_address.address_lines"),
    (onboarding(subscription__plan="platinum"), 422, "body.subscription"),
    (onboarding(subscription__currency="XYZ"), 422, "body.subscription.currency"),
    (onboarding(subscription__billing_day=32), 422, "body.subscription.billing_day"),
    (onboarding(subscription__interval="weekly", subscription__billing_day=31), 422,
     "body.subscription.billing_day"),
    (onboarding(subscription__services=[]), 422, "body.subscription.services"),
    (onboarding(subscription__services=["a b"]), 422, "body.subscription.services.0"),
    (onboarding(subscription__balances=[{"id": "m", "resource": "EUR", "amount": 1.5}]),
     422, "body.subscription.balances.0.amount"),
    (onboarding(subscription__balances=[{"id": "m", "resource": "EUR", "amount": "1.001"}]),
     422, "body.subscription"),
    (onboarding(contacts=[{"tag": "a"}]), 422, "body.contacts.0"),
    (onboarding(unexpected=1), 422, "body.unexpected"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "status", "field"), BAD, ids=[b[2] + str(i) for i, b in enumerate(BAD)]
)
async def test_bad_onboarding_names_the_field_and_writes_nothing(
    admin: Admin, body: dict[str, Any], status: int, field: str
) -> None:
    response = await admin.call("POST", "/v1/customers", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status
    assert (problem.get("field") or "").startswith(field) or field in problem["detail"], problem
    await nothing_written(admin)


async def test_unknown_ids_and_malformed_requests_are_4xx_problems(admin: Admin) -> None:
    cases = [
        ("GET", "/v1/customers/999999", None, 404),
        ("GET", "/v1/customers/abc", None, 422),
        ("GET", "/v1/customers/0", None, 422),
        ("PATCH", "/v1/customers/999999", {"city": "Kranj"}, 404),
        ("POST", "/v1/customers/999999/close", None, 404),
        ("GET", "/v1/customers?limit=0", None, 422),
        ("GET", "/v1/customers?sort=password", None, 422),
        ("GET", "/v1/customers?cursor=garbage", None, 422),
        ("GET", "/v1/customers/export?sort=nope", None, 422),
        ("GET", "/v1/unrated-events/424242", None, 404),
        ("DELETE", "/v1/api-keys/tk_00000000", None, 404),
    ]
    for method, path, body, status in cases:
        response = await admin.call(method, path, json=body)
        assert response.status_code == status, (method, path, response.text)
        assert response.headers["content-type"] == PROBLEM
    nul = await admin.call("POST", "/v1/customers", json=onboarding(account__city="Kr\x00anj"))
    assert (nul.status_code, nul.json()["field"]) == (422, "body")
    nul = await admin.call("GET", "/v1/customers", params={"q": "a\x00"})
    assert (nul.status_code, nul.json()["field"]) == (422, "query")
    await nothing_written(admin)
    response = await admin.client.post(
        "/v1/customers",
        content=b"{not json",
        headers=admin.as_("admin") | {"content-type": "application/json"},
    )
    # not JSON at all: a 400 (a 422 is for JSON that is not valid input)
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["field"] == "body"


async def test_edit_close_and_the_audit_trail(admin: Admin) -> None:
    created = (await admin.call("POST", "/v1/customers", json=onboarding())).json()
    path = f"/v1/customers/{created['id']}"
    await admin.call("PUT", "/v1/custom-attributes/segment", json={"type": "string"})
    edited = await admin.call(
        "PATCH", path, json={"city": "Kranj", "custom_attributes": {"segment": "gold"}}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["account"]["city"] == "Kranj"
    assert (await admin.call("PATCH", path, json={"city": None})).status_code == 422
    assert (await admin.call("PATCH", path, json={})).status_code == 422
    contacts = {
        "contacts": [{"tag": "billing", "email": "a@b.si"}, {"tag": "sms", "phone": "+38640111"}]
    }
    assert (await admin.call("PUT", f"{path}/contacts", json=contacts)).status_code == 200
    closed = await admin.call("POST", f"{path}/close")
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed"
    assert closed.json()["delete_after"] is not None
    engine = admin.engine
    answer = await engine.stub.ChargeEvent(sms("38640555001", "after-close", engine.clock.now))
    assert answer.result == pb.END_USER_SERVICE_DENIED
    assert (await admin.call("POST", f"{path}/close")).status_code == 409
    log = (
        await admin.call("GET", "/v1/audit-log", params={"object_id": str(created["id"])})
    ).json()
    actions = [e["action"] for e in log["items"]]
    assert actions == ["customer.close", "customer.contacts", "customer.update", "customer.onboard"]
    update = log["items"][2]
    assert update["before"] == {"city": "Ljubljana", "custom_attributes": {}}
    assert update["after"] == {"city": "Kranj", "custom_attributes": {"segment": "gold"}}


async def test_billing_address_and_tax_id_make_the_invoices_buyer(admin: Admin) -> None:
    billed = {"address_lines": ["ACME d.o.o.", "Dunajska 5"], "city": "Maribor",
              "postcode": "2000", "country": "SI"}  # fmt: skip
    body = onboarding(payment__billing_address=billed, payment__tax_id="de 136 695 976")
    response = await admin.call("POST", "/v1/customers", json=body)
    assert response.status_code == 201, response.text
    customer = response.json()
    assert customer["payment"]["billing_address"] == billed
    assert customer["payment"]["tax_id"] == "DE136695976"  # checked, kept compact

    async def buyer() -> Party:
        async with admin.pool.acquire() as conn:  # the row the billing runs read
            row = await conn.fetchrow("SELECT * FROM customers WHERE id = $1", customer["id"])
        return buyer_party(row)

    assert await buyer() == Party(
        "Ana Novak", "ACME d.o.o., Dunajska 5", "Maribor", "2000", "SI",
        vat_id="DE136695976", email="ana.novak@example.com",
    )  # fmt: skip

    # a new payment without them: the customer's own address again, no tax id
    path = f"/v1/customers/{customer['id']}/payment"
    plain = {"payment": {"method": "invoice"}}
    changed = await admin.call("PUT", path, json=plain)
    assert changed.json()["payment"] == {"method": "invoice"}
    assert await buyer() == Party(
        "Ana Novak", "Slovenska cesta 1", "Ljubljana", "1000", "SI",
        email="ana.novak@example.com",
    )  # fmt: skip
    refused = await admin.call("PUT", path, json={"payment": {"method": "invoice", "tax_id": "?"}})
    assert (refused.status_code, refused.json()["field"]) == (422, "body.payment.invoice.tax_id")
    other = {"payment": {"method": "invoice", "tax_id": "CHE-123.456.788"}}
    assert (await admin.call("PUT", path, json=other)).json()["payment"]["tax_id"] == (
        "CHE-123.456.788"
    )
