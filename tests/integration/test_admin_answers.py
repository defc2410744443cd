"""Answers carry exactly the fields the service gives: what a request left out of a stored
document stays out (never a null, never a 500), and an erased account still answers."""

from __future__ import annotations

from tarif_billing import retention
from tests.integration.admin_harness import Admin, onboarding


async def test_a_device_given_only_an_imei_is_answered_as_stored(admin: Admin) -> None:
    customer = (await admin.call("POST", "/v1/customers", json=onboarding("38640555950"))).json()
    base = f"/v1/customers/{customer['id']}"
    patched = await admin.call(
        "PATCH", f"{base}/services/38640555950", json={"devices": [{"imei": "356938035643809"}]}
    )
    assert patched.status_code == 200, patched.text
    for answer in (patched.json(), (await admin.call("GET", f"{base}/services")).json()):
        assert answer["items"][0]["devices"] == [{"imei": "356938035643809"}]


async def test_an_invoice_payment_has_no_card_or_mandate_fields(admin: Admin) -> None:
    body = onboarding("38640555951", payment={"method": "invoice"})
    created = await admin.call("POST", "/v1/customers", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["payment"] == {"method": "invoice"}
    assert created.json()["contacts"] == [{"tag": "billing", "email": "ana.novak@example.com"}]


async def test_a_deleted_account_still_answers_its_details(admin: Admin) -> None:
    customer = (await admin.call("POST", "/v1/customers", json=onboarding("38640555952"))).json()
    base = f"/v1/customers/{customer['id']}"
    assert (await admin.call("POST", f"{base}/close")).status_code == 200
    async with admin.pool.acquire() as conn:
        await conn.execute(
            "UPDATE customers SET delete_after = now() WHERE id = $1", customer["id"]
        )  # the retention has passed
    assert await retention.delete_due(admin.pool) == [customer["account_id"]]

    details = await admin.call("GET", base)
    assert details.status_code == 200, details.text
    answer = details.json()
    assert answer["status"] == "deleted"
    assert answer["payment"] == {"method": "direct_debit"}  # the mandate is erased
    assert (answer["account"]["email"], answer["account"]["organisation"]) == ("", None)
    assert answer["contacts"] == []
