"""Contacts with names, organisation and address: added, edited and deleted one tag at a time,
replaced as a list, shown in the customer's details, audited, and read by the notifier."""

from __future__ import annotations

from typing import Any

from tarif_notifications import store
from tests.integration.admin_harness import Admin, onboarding

CARD = {
    "tag": "accounts",
    "email": "racuni@podjetje.si",
    "phone": "+38614001000",
    "first_name": "Maja",
    "last_name": "Kovač",
    "organisation": "Podjetje d.o.o.",
    "address_lines": ["Dunajska cesta 5", "3. nadstropje"],
    "city": "Ljubljana",
    "postcode": "1000",
    "country": "SI",
}


async def customer(admin: Admin, msisdn: str, **changes: Any) -> tuple[int, str]:
    created = await admin.call("POST", "/v1/customers", json=onboarding(msisdn, **changes))
    assert created.status_code == 201, created.text
    return created.json()["id"], f"/v1/customers/{created.json()['id']}/contacts"


async def audit_of(admin: Admin, customer_id: int) -> list[dict[str, Any]]:
    log = await admin.call("GET", "/v1/audit-log", params={"object_id": str(customer_id)})
    return [e for e in log.json()["items"] if e["action"] == "customer.contacts"]


async def test_a_contact_card_is_added_edited_and_deleted_by_its_tag(admin: Admin) -> None:
    customer_id, path = await customer(admin, "38640555401")

    added = await admin.call("POST", path, json=CARD)
    assert added.status_code == 201, added.text
    assert added.json() == CARD
    assert (await admin.call("GET", f"{path}/accounts")).json() == CARD
    listed = (await admin.call("GET", path)).json()["contacts"]
    assert [c["tag"] for c in listed] == ["accounts", "billing"]  # onboarding's stays
    details = (await admin.call("GET", f"/v1/customers/{customer_id}")).json()
    assert CARD in details["contacts"]
    again = await admin.call("POST", path, json=CARD | {"email": "other@podjetje.si"})
    assert again.status_code == 409
    assert (await admin.call("GET", f"{path}/accounts")).json()["email"] == CARD["email"]

    edited = await admin.call(
        "PATCH", f"{path}/accounts", json={"city": "Maribor", "postcode": "2000", "phone": None}
    )
    assert edited.status_code == 200, edited.text
    expected = {k: v for k, v in CARD.items() if k != "phone"} | {
        "city": "Maribor",
        "postcode": "2000",
    }
    assert edited.json() == expected
    assert (await admin.call("GET", f"{path}/accounts")).json() == expected
    # without its e-mail it would have neither address: refused, and nothing changed
    refused = await admin.call("PATCH", f"{path}/accounts", json={"email": None})
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert (await admin.call("GET", f"{path}/accounts")).json() == expected
    assert (await admin.call("PATCH", f"{path}/accounts", json={})).status_code == 422

    # the notifier finds the contact's e-mail under the customer's account
    async with admin.pool.acquire() as conn:
        account_id = await conn.fetchval(
            "SELECT account_id FROM customers WHERE id = $1", customer_id
        )
        seen = await store.contacts_of(conn, [account_id])
    assert {c.email for c in seen[account_id]} == {"racuni@podjetje.si", "ana.novak@example.com"}

    assert (await admin.call("DELETE", f"{path}/accounts", "operator")).status_code == 403
    assert (await admin.call("DELETE", f"{path}/accounts")).status_code == 204
    assert (await admin.call("GET", f"{path}/accounts")).status_code == 404
    assert (await admin.call("DELETE", f"{path}/accounts")).status_code == 404
    assert [c["tag"] for c in (await admin.call("GET", path)).json()["contacts"]] == ["billing"]

    trail = await audit_of(admin, customer_id)  # newest first
    assert [(e["before"] is None, e["after"] is None) for e in trail] == [
        (False, True),  # deleted
        (False, False),  # edited
        (True, False),  # added
    ]
    assert trail[1]["before"] == {"city": "Ljubljana", "postcode": "1000", "phone": CARD["phone"]}
    assert trail[1]["after"]["city"] == "Maribor"


async def test_bad_contacts_are_422_problems_and_write_nothing(admin: Admin) -> None:
    _, path = await customer(admin, "38640555402")
    for bad, field in [
        ({"tag": "x", "first_name": "No Address"}, "body"),
        (CARD | {"country": "si"}, "body.country"),
        (CARD | {"address_lines": []}, "body.address_lines"),
        (CARD | {"address_lines": ["1", "2", "3", "4", "5"]}, "body.address_lines"),
        (CARD | {"fax": "+38614001001"}, "body.fax"),
        (CARD | {"tag": "no spaces"}, "body.tag"),
    ]:
        answer = await admin.call("POST", path, json=bad)
        assert answer.status_code == 422, bad
        assert answer.json()["field"] == field, answer.json()
    assert (await admin.call("PATCH", f"{path}/billing", json={"tag": "new"})).status_code == 422
    assert [c["tag"] for c in (await admin.call("GET", path)).json()["contacts"]] == ["billing"]
    assert (await admin.call("GET", f"{path}/nobody")).status_code == 404
    assert (await admin.call("PATCH", f"{path}/nobody", json={"city": "Kranj"})).status_code == 404
    unknown = "/v1/customers/999999/contacts"
    assert (await admin.call("POST", unknown, json=CARD)).status_code == 404
    assert (await admin.call("GET", unknown)).status_code == 404


async def test_onboarding_and_put_take_whole_cards(admin: Admin) -> None:
    customer_id, path = await customer(admin, "38640555403", contacts=[CARD])
    assert (await admin.call("GET", path)).json() == {"contacts": [CARD]}

    second = {"tag": "sms", "phone": "+38640111222"}
    replaced = await admin.call("PUT", path, json={"contacts": [second, CARD]})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json() == {"contacts": [CARD, second]}
    emptied = await admin.call("PUT", path, json={"contacts": []})
    assert emptied.json() == {"contacts": []}
    details = (await admin.call("GET", f"/v1/customers/{customer_id}")).json()
    assert details["contacts"] == []
    trail = await audit_of(admin, customer_id)
    assert trail[0]["before"] == [CARD, second]
    assert trail[0]["after"] == []
    # a whole list with a repeated tag is refused as one
    twice = await admin.call("PUT", path, json={"contacts": [second, second]})
    assert twice.status_code == 422
