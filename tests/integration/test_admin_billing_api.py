"""The billing endpoints of the admin API: bills, run billing and bill now (idempotent by
request id), the invoice preview, adjustments, invoices, payments; every refusal writes
nothing (row counts)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from tarif_billing import retention
from tests.integration.admin_harness import Admin
from tests.integration.billing_harness import (
    SELLER,
    counts,
    postpaid_customer,
    profile_of,
    store_usage,
)

DEC = "2026-11-30T23:00:00Z"  # the end of the cycle holding the test clock's 2026-11-29


def bill_with_settings(admin: Admin, **changes: Any) -> None:
    """The seller and a default tax, as a deployment that issues invoices configures them."""
    seller = {
        "seller_name": SELLER.name,
        "seller_address": SELLER.address,
        "seller_city": SELLER.city,
        "seller_postcode": SELLER.postcode,
        "seller_country": SELLER.country,
        "seller_vat_id": SELLER.vat_id,
    }
    update = seller | {"default_tax": "VAT22", "payment_terms_days": 15} | changes
    admin.app.state.settings = admin.app.state.settings.model_copy(update=update)


async def billed_customer(admin: Admin, msisdn: str, cost: str = "10.00") -> dict[str, Any]:
    """A postpaid customer with one usage record in November, its profile billed at DEC."""
    bill_with_settings(admin)
    customer = await postpaid_customer(admin, msisdn, plan="basic")
    profile = await profile_of(admin.pool, customer["id"])
    await store_usage(
        admin.pool,
        customer["account_id"],
        ("e:1", "voice", datetime(2026, 11, 20, 9, tzinfo=UTC), cost),
    )
    run = await admin.call(
        "POST",
        f"/v1/billing-profiles/{profile}/run-billing",
        "operator",
        json={"request_id": f"run-{msisdn}", "at": DEC},
    )
    assert run.status_code == 200, run.text
    return {"customer": customer, "profile": profile, "run": run.json()}


async def test_run_billing_answers_what_it_billed_once_per_request_id(admin: Admin) -> None:
    bill_with_settings(admin)
    customer = await postpaid_customer(admin, "38640800001", plan="basic")
    profile = await profile_of(admin.pool, customer["id"])
    await store_usage(
        admin.pool,
        customer["account_id"],
        ("e:1", "voice", datetime(2026, 11, 20, 9, tzinfo=UTC), "10.00"),
    )
    path = f"/v1/billing-profiles/{profile}/run-billing"
    # the cycle has not ended by `at`: 409, no invoice, no answer kept
    early = await admin.call(
        "POST", path, "operator", json={"request_id": "r0", "at": "2026-11-29T00:00:00Z"}
    )
    assert early.status_code == 409, early.text
    assert "ends at" in early.json()["detail"]
    before = await counts(admin.pool)
    assert before["invoices"] == 0
    again_early = await admin.call(
        "POST", path, "operator", json={"request_id": "r0", "at": "2026-11-29T00:00:00Z"}
    )
    assert again_early.status_code == 409
    assert await counts(admin.pool) == before
    assert await admin.count("billing_requests") == 0
    assert (await admin.call("POST", path, "auditor", json={"request_id": "r1"})).status_code == 403
    assert (
        await admin.call("POST", path, json={"request_id": "r1", "at": "2026-12-01T00:00:00"})
    ).status_code == 422  # a time without its zone
    missing = await admin.call(
        "POST", "/v1/billing-profiles/999999/run-billing", json={"request_id": "r9"}
    )
    assert missing.status_code == 404
    # a production deployment bills as of the present only: a simulated time is refused
    bill_with_settings(admin, environment="production")
    refused = await admin.call("POST", path, "operator", json={"request_id": "r1", "at": DEC})
    assert refused.status_code == 403, refused.text
    assert refused.json()["field"] == "process_now"
    assert "production" in refused.json()["detail"]
    assert await counts(admin.pool) == before
    bill_with_settings(admin, environment="test")

    run = await admin.call("POST", path, "operator", json={"request_id": "r1", "at": DEC})

    assert run.status_code == 200, run.text
    answer = run.json()
    assert (answer["billed"], answer["replayed"], answer["operation"]) == (1, False, "run_billing")
    (issued,) = answer["invoices"]
    assert (issued["number"], issued["status"], issued["total"]) == (
        "INV-000001",
        "billing",
        "12.20",
    )
    after = await counts(admin.pool)
    replay = await admin.call("POST", path, "operator", json={"request_id": "r1", "at": DEC})
    assert replay.status_code == 200
    assert replay.json() == answer | {"replayed": True}
    assert await counts(admin.pool) == after
    other = await admin.call(
        "POST", f"/v1/billing-profiles/{profile}/bill-now", json={"request_id": "r1"}
    )
    assert other.status_code == 409  # the id of another request
    assert await counts(admin.pool) == after
    audited = await admin.call(
        "GET", "/v1/audit-log", "auditor", params={"object_type": "billing_profile"}
    )
    assert [r["action"] for r in audited.json()["items"]] == ["billing_profile.run_billing"]


async def test_bills_items_and_invoices_are_read_and_paged(admin: Admin) -> None:
    billed = await billed_customer(admin, "38640800002")
    profile = billed["profile"]
    bills = await admin.call("GET", f"/v1/billing-profiles/{profile}/bills", "auditor")
    assert bills.status_code == 200, bills.text
    assert [b["status"] for b in bills.json()["items"]] == ["inactive", "active", "billing"]
    (done,) = (
        await admin.call(
            "GET", f"/v1/billing-profiles/{profile}/bills", params={"status": "billing"}
        )
    ).json()["items"]
    (issued,) = billed["run"]["invoices"]
    assert (done["invoice_id"], done["invoice_number"], done["total"]) == (
        issued["invoice_id"],
        "INV-000001",
        "12.20",
    )
    assert (done["items_total"], done["amount_due"]) == ("10.00", "12.20")
    one = await admin.call("GET", f"/v1/bills/{done['id']}", "auditor")
    assert one.json() == done
    items = await admin.call("GET", f"/v1/bills/{done['id']}/items", params={"limit": 1})
    (item,) = items.json()["items"]
    assert (item["kind"], item["service"], item["amount"]) == ("usage", "voice", "10.00")
    assert items.json()["next_cursor"]
    rest = await admin.call(
        "GET", f"/v1/bills/{done['id']}/items", params={"cursor": items.json()["next_cursor"]}
    )
    # the second page: the bill's VAT, an item too (the items add up to the bill's total)
    (tax,) = rest.json()["items"]
    assert (tax["kind"], tax["description"], tax["amount"]) == ("tax", "VAT 22 %", "2.20")
    assert rest.json()["next_cursor"] is None
    wrong = await admin.call(
        "GET",
        f"/v1/billing-profiles/{profile}/bills",
        params={"cursor": items.json()["next_cursor"]},
    )
    assert wrong.status_code == 422  # another list's cursor
    assert (await admin.call("GET", "/v1/bills/999999")).status_code == 404
    assert (await admin.call("GET", "/v1/bills/999999/items")).status_code == 404
    assert (
        await admin.call("GET", f"/v1/billing-profiles/{profile}/bills", params={"status": "x"})
    ).status_code == 422
    assert (await admin.call("GET", "/v1/billing-profiles/999999/bills")).status_code == 404

    listed = await admin.call(
        "GET", "/v1/invoices", "auditor", params={"billing_profile_id": profile}
    )
    (invoice,) = listed.json()["items"]
    assert (invoice["number"], invoice["kind"], invoice["status"]) == (
        "INV-000001",
        "invoice",
        "billing",
    )
    assert (invoice["net_total"], invoice["tax_total"], invoice["amount_due"]) == (
        "10.00",
        "2.20",
        "12.20",
    )
    assert "lines" not in invoice
    none = await admin.call(
        "GET", "/v1/invoices", params={"billing_profile_id": profile, "kind": "credit_note"}
    )
    assert none.json()["items"] == []
    dated = await admin.call(
        "GET", "/v1/invoices", params={"issued_from": "2026-12-01", "issued_to": "2026-12-01"}
    )
    assert [i["id"] for i in dated.json()["items"]] == [invoice["id"]]
    backwards = await admin.call(
        "GET", "/v1/invoices", params={"issued_from": "2026-12-02", "issued_to": "2026-12-01"}
    )
    assert (backwards.status_code, backwards.json()["field"]) == (422, "query.issued_to")
    full = (await admin.call("GET", f"/v1/invoices/{invoice['id']}")).json()
    assert [(line["kind"], line["net"]) for line in full["lines"]] == [("usage", "10.00")]
    assert [(t["category"], t["rate"], t["tax"]) for t in full["taxes"]] == [("S", "22", "2.20")]
    assert (await admin.call("GET", "/v1/invoices/999999")).status_code == 404
    document = await admin.call("GET", f"/v1/invoices/{invoice['id']}/document", "auditor")
    assert document.status_code == 200, document.text
    assert document.headers["content-type"].startswith("application/json")
    assert (document.json()["number"], document.json()["total"]) == ("INV-000001", "12.20")
    rendered = {
        fmt: await admin.call(
            "GET", f"/v1/invoices/{invoice['id']}/document", params={"format": fmt}
        )
        for fmt in ("html", "pdf", "facturx", "ubl", "cii")
    }
    assert {fmt: r.headers["content-type"] for fmt, r in rendered.items()} == {
        "html": "text/html; charset=utf-8",
        "pdf": "application/pdf",
        "facturx": "application/pdf",
        "ubl": "application/xml",
        "cii": "application/xml",
    }
    assert "INV-000001" in rendered["html"].text
    assert rendered["pdf"].content.startswith(b"%PDF")
    assert b"<cbc:ID>INV-000001</cbc:ID>" in rendered["ubl"].content
    unknown = await admin.call(
        "GET", f"/v1/invoices/{invoice['id']}/document", params={"format": "docx"}
    )
    assert (unknown.status_code, unknown.json()["field"]) == (422, "query.format")
    assert (await admin.call("GET", "/v1/invoices/999999/document")).status_code == 404
    exported = await admin.call(
        "GET", "/v1/invoices/export", "auditor", params={"customer_id": billed["customer"]["id"]}
    )
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["number"], r["total"], r["issue_date"]) for r in rows] == [
        ("INV-000001", "12.20", "2026-12-01")
    ]


async def test_payments_are_recorded_once_and_refusals_write_nothing(admin: Admin) -> None:
    billed = await billed_customer(admin, "38640800003")
    profile = billed["profile"]
    (issued,) = billed["run"]["invoices"]
    path = f"/v1/billing-profiles/{profile}/payments"
    body = {
        "request_id": "p1",
        "kind": "charge",
        "method": "transfer",
        "amount": "5.00",
        "currency": "EUR",
        "reference": "T-1",
        "invoice_id": issued["invoice_id"],
    }
    first = await admin.call("POST", path, "operator", json=body)
    assert first.status_code == 201, first.text
    assert first.json()["allocations"] == [
        {"invoice_id": issued["invoice_id"], "number": "INV-000001", "amount": "5.00"}
    ]
    assert first.json()["replayed"] is False
    before = await counts(admin.pool)
    replay = await admin.call("POST", path, "operator", json=body)
    assert (replay.status_code, replay.json()["id"], replay.json()["replayed"]) == (
        200,
        first.json()["id"],
        True,
    )
    refusals = [
        ({**body, "request_id": "p2", "currency": "USD"}, 422, "body.currency"),
        ({**body, "request_id": "p2", "amount": "0"}, 422, "body.amount"),
        ({**body, "request_id": "p2", "amount": "-1"}, 422, "body.amount"),
        ({**body, "request_id": "p2", "invoice_id": 999999}, 404, None),
        ({**body, "request_id": "p2", "kind": "refund", "invoice_id": None}, 409, None),
        ({**body, "amount": "6.00"}, 409, None),  # p1 again, another payment
    ]
    for refused, status, field in refusals:
        answer = await admin.call("POST", path, json=refused)
        assert answer.status_code == status, (refused, answer.text)
        assert answer.json().get("field") == field, answer.text
    assert (await admin.call("POST", path, "auditor", json=body)).status_code == 403
    assert (
        await admin.call(
            "POST", "/v1/billing-profiles/999999/payments", json={**body, "request_id": "p3"}
        )
    ).status_code == 404
    assert await counts(admin.pool) == before

    rest = await admin.call("POST", path, json={**body, "request_id": "p2", "amount": "10.00"})
    assert rest.status_code == 201, rest.text
    assert rest.json()["to_credit"] == "2.80"
    closed = await admin.call("POST", path, json={**body, "request_id": "p3"})
    assert closed.status_code == 409  # nothing is due on it any more
    profile_answer = (
        await admin.call("GET", f"/v1/customers/{billed['customer']['id']}/billing-profiles")
    ).json()["items"][0]
    assert (profile_answer["pending_total"], profile_answer["credit_balance"]) == ("0.00", "2.80")
    # operators refund within their limit; the refund gives credit back
    refund = {**body, "request_id": "p4", "kind": "refund", "amount": "2.80", "invoice_id": None}
    admin.app.state.settings = admin.app.state.settings.model_copy(
        update={"operator_adjustment_limit": 1}
    )
    assert (await admin.call("POST", path, "operator", json=refund)).status_code == 403
    assert (await admin.call("POST", path, json=refund)).status_code == 201
    listed = (await admin.call("GET", path, "auditor")).json()["items"]
    assert [(p["request_id"], p["kind"]) for p in listed] == [
        ("p4", "refund"),
        ("p2", "charge"),
        ("p1", "charge"),
    ]
    one = (await admin.call("GET", f"/v1/payments/{listed[1]['id']}")).json()
    assert one["allocations"] == [
        {"invoice_id": issued["invoice_id"], "number": "INV-000001", "amount": "7.20"}
    ]
    assert (await admin.call("GET", "/v1/payments/999999")).status_code == 404


async def test_adjustments_make_items_or_credit_notes(admin: Admin) -> None:
    billed = await billed_customer(admin, "38640800004")
    profile = billed["profile"]
    (issued,) = billed["run"]["invoices"]
    bills = (await admin.call("GET", f"/v1/billing-profiles/{profile}/bills")).json()["items"]
    by_status = {b["status"]: b for b in bills}
    active, done = by_status["active"], by_status["billing"]
    credit = {"request_id": "a1", "amount": "-2.00", "reason": "goodwill"}
    item = await admin.call(
        "POST", f"/v1/bills/{active['id']}/adjustments", "operator", json=credit
    )
    assert item.status_code == 201, item.text
    assert (item.json()["amount"], item.json()["credit_note_id"]) == ("-2.00", None)
    items = (await admin.call("GET", f"/v1/bills/{active['id']}/items")).json()["items"]
    assert [(i["kind"], i["amount"]) for i in items] == [("adjustment", "-2.00")]
    before = await counts(admin.pool)
    replay = await admin.call("POST", f"/v1/bills/{active['id']}/adjustments", json=credit)
    assert (replay.status_code, replay.json()["id"]) == (200, item.json()["id"])
    refusals = [
        (done["id"], {"request_id": "a2", "amount": "3.00", "reason": "more"}, 409),  # billed
        (done["id"], {"request_id": "a2", "amount": "0", "reason": "zero"}, 422),
        (done["id"], {"request_id": "a2", "amount": "-1", "reason": "x", "tax": "NOPE"}, 404),
        (999999, {"request_id": "a2", "amount": "-1", "reason": "x"}, 404),
    ]
    for bill_id, body, status in refusals:
        answer = await admin.call("POST", f"/v1/bills/{bill_id}/adjustments", json=body)
        assert answer.status_code == status, (body, answer.text)
    admin.app.state.settings = admin.app.state.settings.model_copy(
        update={"operator_adjustment_limit": 1}
    )
    big = {"request_id": "a2", "amount": "-1.50", "reason": "x"}
    over = await admin.call("POST", f"/v1/bills/{done['id']}/adjustments", "operator", json=big)
    assert over.status_code == 403
    assert (
        await admin.call("POST", f"/v1/bills/{done['id']}/adjustments", "auditor", json=big)
    ).status_code == 403
    assert await counts(admin.pool) == before

    note = await admin.call("POST", f"/v1/bills/{done['id']}/adjustments", json=big)
    assert note.status_code == 201, note.text
    assert note.json()["credit_note_number"] == "CN-000001"
    notes = (await admin.call("GET", "/v1/invoices", params={"kind": "credit_note"})).json()[
        "items"
    ]
    assert [(n["number"], n["corrects_id"], n["total"]) for n in notes] == [
        ("CN-000001", issued["invoice_id"], "1.83")
    ]
    invoice = (await admin.call("GET", f"/v1/invoices/{issued['invoice_id']}")).json()
    assert (invoice["credited"], invoice["amount_due"]) == ("1.83", "10.37")
    listed = (await admin.call("GET", f"/v1/bills/{done['id']}/adjustments", "auditor")).json()
    assert [a["credit_note_number"] for a in listed["items"]] == ["CN-000001"]
    assert (await admin.call("GET", "/v1/bills/999999/adjustments")).status_code == 404


async def test_preview_writes_nothing_and_bill_now_bills_once(admin: Admin) -> None:
    bill_with_settings(admin)
    customer = await postpaid_customer(admin, "38640800005", plan="basic")
    profile = await profile_of(admin.pool, customer["id"])
    await store_usage(
        admin.pool,
        customer["account_id"],
        ("e:1", "voice", datetime(2026, 11, 20, 9, tzinfo=UTC), "10.00"),
        ("e:2", "sms", datetime(2026, 11, 21, 9, tzinfo=UTC), "0.50"),
    )
    await admin.call(  # opens the bills (the cycle has not ended)
        "POST", f"/v1/billing-profiles/{profile}/run-billing", json={"request_id": "open"}
    )
    before = await counts(admin.pool)
    preview = await admin.call(
        "GET",
        f"/v1/billing-profiles/{profile}/invoice-preview",
        "auditor",
        params={"details": True},
    )
    assert preview.status_code == 200, preview.text
    document = preview.json()["document"]
    assert (document["number"], document["total"], document["seller"]["name"]) == (
        "PREVIEW-1",
        "12.81",
        SELLER.name,
    )
    assert [(e["request_id"], e["cost"]) for e in preview.json()["events"]] == [
        ("e:1", "10.00"),
        ("e:2", "0.50"),
    ]
    plain = await admin.call("GET", f"/v1/billing-profiles/{profile}/invoice-preview")
    assert plain.json()["events"] is None
    assert await counts(admin.pool) == before
    assert (
        await admin.call("GET", "/v1/billing-profiles/999999/invoice-preview")
    ).status_code == 404

    now = await admin.call(
        "POST", f"/v1/billing-profiles/{profile}/bill-now", "operator", json={"request_id": "n1"}
    )
    assert now.status_code == 200, now.text
    (issued,) = now.json()["invoices"]
    assert (issued["number"], issued["total"]) == ("INV-000001", "12.81")
    after = await counts(admin.pool)
    replay = await admin.call(
        "POST", f"/v1/billing-profiles/{profile}/bill-now", json={"request_id": "n1"}
    )
    assert replay.json() == now.json() | {"replayed": True}
    assert await counts(admin.pool) == after
    kinds = [
        b["kind"]
        for b in (await admin.call("GET", f"/v1/billing-profiles/{profile}/bills")).json()["items"]
    ]
    assert kinds == ["now", "cycle", "cycle"]


async def test_a_failed_invoice_is_made_again(admin: Admin) -> None:
    bill_with_settings(admin, default_tax=None)
    customer = await postpaid_customer(admin, "38640800006", plan="basic")
    profile = await profile_of(admin.pool, customer["id"])
    await store_usage(
        admin.pool,
        customer["account_id"],
        ("e:1", "voice", datetime(2026, 11, 20, 9, tzinfo=UTC), "10.00"),
    )
    run = await admin.call(
        "POST",
        f"/v1/billing-profiles/{profile}/run-billing",
        json={"request_id": "r1", "at": DEC},
    )
    (failed,) = run.json()["invoices"]
    assert (failed["status"], failed["number"]) == ("failed", None)
    listed = await admin.call("GET", "/v1/invoices", params={"status": "failed"})
    assert [i["error"] for i in listed.json()["items"]] == [failed["error"]]
    path = f"/v1/invoices/{failed['invoice_id']}/regenerate"
    assert (await admin.call("POST", path, "auditor")).status_code == 403
    still = await admin.call("POST", path, "operator")
    assert (still.status_code, still.json()["status"], still.json()["number"]) == (
        200,
        "failed",
        None,
    )
    no_document = await admin.call("GET", f"/v1/invoices/{failed['invoice_id']}/document")
    assert no_document.status_code == 409
    bill_with_settings(admin)  # the default tax is set now
    made = await admin.call("POST", path, "operator")
    assert (made.json()["status"], made.json()["number"]) == ("billing", "INV-000001")
    assert (await admin.call("POST", path)).status_code == 409  # not failed any more
    assert (await admin.call("POST", "/v1/invoices/999999/regenerate")).status_code == 404


async def test_closing_bills_postpaid_charges_and_keeps_a_debtor(admin: Admin) -> None:
    bill_with_settings(admin)
    customer = await postpaid_customer(admin, "38640800007", plan="basic")
    profile = await profile_of(admin.pool, customer["id"])
    await admin.call(  # opens the bills
        "POST", f"/v1/billing-profiles/{profile}/run-billing", json={"request_id": "open"}
    )
    await store_usage(
        admin.pool,
        customer["account_id"],
        ("e:1", "voice", datetime(2026, 11, 20, 9, tzinfo=UTC), "10.00"),
    )
    closed = await admin.call("POST", f"/v1/customers/{customer['id']}/close")
    assert closed.status_code == 200, closed.text
    (invoice,) = (
        await admin.call("GET", "/v1/invoices", params={"customer_id": customer["id"]})
    ).json()["items"]
    assert (invoice["status"], invoice["amount_due"]) == ("billing", "12.20")
    async with admin.pool.acquire() as conn:
        await conn.execute(
            "UPDATE customers SET delete_after = now() - interval '1 day' WHERE id = $1",
            customer["id"],
        )
    assert await retention.delete_due(admin.pool) == []  # an invoice is due: kept
    pay = {
        "request_id": "pay",
        "kind": "charge",
        "method": "cash",
        "amount": "12.20",
        "currency": "EUR",
    }
    paid = await admin.call("POST", f"/v1/billing-profiles/{profile}/payments", json=pay)
    assert paid.status_code == 201, paid.text
    assert await retention.delete_due(admin.pool) == [customer["account_id"]]


async def test_profiles_take_a_tax_and_payment_terms_and_taxes_a_category(admin: Admin) -> None:
    bill_with_settings(admin)
    customer = await postpaid_customer(admin, "38640800008", plan="basic")
    tax = {"rate": "0", "category": "AE", "exemption_reason": "Reverse charge"}
    put = await admin.call("PUT", "/v1/taxes/RC", json=tax)
    assert put.status_code == 200, put.text
    got = (await admin.call("GET", "/v1/taxes/RC")).json()
    assert (got["category"], got["exemption_reason"]) == ("AE", "Reverse charge")
    assert (
        await admin.call("PUT", "/v1/taxes/RC", json={**tax, "category": "X"})
    ).status_code == 422
    path = f"/v1/customers/{customer['id']}/billing-profiles"
    created = await admin.call(
        "POST",
        path,
        json={"name": "b2b", "currency": "EUR", "tax": "RC", "payment_terms_days": 60},
    )
    assert created.status_code == 201, created.text
    assert (created.json()["tax"], created.json()["payment_terms_days"]) == ("RC", 60)
    unknown = await admin.call("POST", path, json={"name": "b2c", "currency": "EUR", "tax": "NOPE"})
    assert (unknown.status_code, unknown.json()["field"]) == (422, "body.tax")
    assert (await admin.call("DELETE", "/v1/taxes/RC")).status_code == 409  # the profile's
    changed = await admin.call(
        "PATCH", f"{path}/{created.json()['id']}", json={"tax": None, "payment_terms_days": 10}
    )
    assert (changed.json()["tax"], changed.json()["payment_terms_days"]) == (None, 10)
    assert (await admin.call("DELETE", "/v1/taxes/RC")).status_code == 204
