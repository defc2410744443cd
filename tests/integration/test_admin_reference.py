"""Reference data (ledgers, taxes, mail templates, types, attributes) and vouchers."""

from __future__ import annotations

import asyncio

import asyncpg

from tests.integration.admin_harness import Admin, onboarding
from tests.integration.notifier_harness import cross_threshold, eventually, running_batch
from tests.servers import smtp_sink


async def test_reference_data_is_listed_changed_and_protected_while_in_use(admin: Admin) -> None:
    assert (
        await admin.call("PUT", "/v1/taxes/vat-si", json={"rate": "22", "provider": "FURS"})
    ).status_code == 200
    assert (await admin.call("PUT", "/v1/taxes/vat-si", json={"rate": "101"})).status_code == 422
    taxes = (await admin.call("GET", "/v1/taxes", "auditor")).json()["items"]
    assert [(t["name"], str(t["rate"])) for t in taxes] == [("vat-si", "22")]
    assert (
        await admin.call("PUT", "/v1/ledgers/revenue", json={"account_code": "7600"})
    ).status_code == 200
    customer = (await admin.call("POST", "/v1/customers", json=onboarding("38640555600"))).json()
    adjust = {"request_id": "r-1", "amount": "1.00", "reason": "x", "tax": "vat-si",
              "ledger": "revenue"}  # fmt: skip
    path = f"/v1/customers/{customer['id']}/balances/main/adjustments"
    assert (await admin.call("POST", path, json=adjust)).json()["status"] == "applied"
    assert (await admin.call("DELETE", "/v1/ledgers/revenue")).status_code == 409  # in use
    assert (await admin.call("DELETE", "/v1/customer-types/residential")).status_code == 409
    assert (await admin.call("PUT", "/v1/customer-types/wholesale", json={})).status_code == 200
    assert (await admin.call("DELETE", "/v1/customer-types/wholesale")).status_code == 204
    assert (await admin.call("GET", "/v1/customer-types/wholesale")).status_code == 404
    bad_name = await admin.call("PUT", "/v1/customer-types/Bad Name", json={})
    assert bad_name.status_code == 422
    log = (await admin.call("GET", "/v1/audit-log", params={"object_type": "tax"})).json()
    assert [e["action"] for e in log["items"]] == ["tax.put"]


async def test_vouchers_credit_once_per_customer_and_never_beyond_their_uses(admin: Admin) -> None:
    voucher = {"code": "WELCOME5", "resource": "EUR", "amount": "5.00", "max_uses": 2}
    assert (await admin.call("POST", "/v1/vouchers", json=voucher)).status_code == 201
    assert (await admin.call("POST", "/v1/vouchers", json=voucher)).status_code == 409
    assert (
        await admin.call("POST", "/v1/vouchers", json={**voucher, "code": "ZERO", "amount": "0"})
    ).status_code == 422
    ids = []
    for i in range(3):
        created = await admin.call("POST", "/v1/customers", json=onboarding(f"3864055570{i}"))
        ids.append(created.json()["id"])
    # the same customer twice at once: credited once, the other told it was redeemed already
    redeem = f"/v1/customers/{ids[0]}/vouchers"
    first, again = sorted(
        await asyncio.gather(
            admin.call("POST", redeem, "operator", json={"code": "WELCOME5"}),
            admin.call("POST", redeem, "operator", json={"code": "WELCOME5"}),
        ),
        key=lambda r: r.status_code,
    )
    assert (first.status_code, again.status_code) == (200, 409), (first.text, again.text)
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["detail"] == (
        f"voucher 'WELCOME5' was already redeemed by customer {ids[0]}"
        f" (adjustment {first.json()['id']})"
    )
    assert first.json()["balance_after"] == "15.00"
    later = await admin.call("POST", redeem, "operator", json={"code": "WELCOME5"})
    assert later.status_code == 409
    assert "already redeemed" in later.json()["detail"]
    assert await admin.engine.balance("38640555700") == 1500
    second = await admin.call("POST", f"/v1/customers/{ids[1]}/vouchers", json={"code": "WELCOME5"})
    assert second.json()["status"] == "applied"
    used_up = await admin.call(
        "POST", f"/v1/customers/{ids[2]}/vouchers", json={"code": "WELCOME5"}
    )
    assert used_up.status_code == 409
    assert (await admin.call("GET", "/v1/vouchers/WELCOME5")).json()["uses"] == 2
    assert (await admin.call("DELETE", "/v1/vouchers/WELCOME5")).status_code == 409
    expired = {
        "code": "OLD1",
        "resource": "EUR",
        "amount": "1",
        "expires_at": "2020-01-01T00:00:00Z",
    }
    assert (await admin.call("POST", "/v1/vouchers", json=expired)).status_code == 201
    late = await admin.call("POST", f"/v1/customers/{ids[2]}/vouchers", json={"code": "OLD1"})
    assert late.status_code == 409
    unknown = await admin.call("POST", f"/v1/customers/{ids[2]}/vouchers", json={"code": "NOPE"})
    assert (unknown.status_code, unknown.json()["field"]) == (422, "body.code")
    assert (await admin.call("DELETE", "/v1/vouchers/OLD1")).status_code == 204


async def test_a_stored_mail_template_is_what_the_notifier_sends(
    admin: Admin, pg: asyncpg.Pool, redis_url: str, database_url: str
) -> None:
    template = {"body": "Subject: Heads up, {{ subscriber }}\n\nOnly {{ value }} {{ unit }} left."}
    put = await admin.call("PUT", "/v1/mail-templates/credit_low.email", json=template)
    assert put.status_code == 200, put.text
    broken = await admin.call(
        "PUT", "/v1/mail-templates/credit_low.email", json={"body": "{% if %}"}
    )
    assert (broken.status_code, broken.json()["field"]) == (422, "body.body")
    no_subject = await admin.call("PUT", "/v1/mail-templates/credit_low.email", json={"body": "Hi"})
    assert no_subject.status_code == 422
    async with pg.acquire() as conn:
        await conn.execute(
            "INSERT INTO account_contacts (account_id, tag, email) VALUES ('m1', 'x', 'm@x.si')"
        )
    with smtp_sink() as smtp:
        await cross_threshold(admin.engine, "m1", "38640555800", "email")
        async with running_batch(
            redis_url, database_url, smtp_host="127.0.0.1", smtp_port=smtp.port
        ) as app:
            await eventually(
                lambda: app.metrics.deliveries.labels("email", "delivered")._value.get() == 1
            )
    (message,) = smtp.messages
    assert message["Subject"] == "Heads up, 38640555800"
    assert message.get_payload(decode=True).decode().strip() == "Only 0.20 EUR left."
