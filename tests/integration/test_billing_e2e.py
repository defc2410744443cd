"""End to end: a postpaid customer with a recurring fee and a coupon, usage over gRPC, ingested
by the batch, billed at the cycle end, invoiced, paid in two parts, overpaid into credit balance
that the next invoice uses."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from io import BytesIO

import facturx
from pypdf import PdfReader

from tarif_billing.documents import load_document
from tarif_billing.payments import PaymentIn, record_payment
from tarif_billing.reconcile import reconcile_billing
from tarif_billing.render import render
from tarif_billing.runs import run_billing
from tests.integration.admin_harness import Admin
from tests.integration.billing_harness import FACTS, context, postpaid_customer, profile_of
from tests.integration.notifier_harness import eventually, running_batch
from tests.integration.requests import sms, voice

MSISDN = "38640900001"
DEC = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # local midnight, 1 December (Ljubljana)
JAN = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)


def pay(profile: int, amount: str, request: str, invoice: int | None = None) -> PaymentIn:
    return PaymentIn(
        request, profile, "charge", "transfer", Decimal(amount), "EUR", invoice_id=invoice
    )


async def test_usage_to_paid_invoice(admin: Admin, redis_url: str, database_url: str) -> None:
    coupon = {"code": "WELCOME2", "amount": "2.00", "currency": "EUR", "cycles": 2}
    assert (await admin.call("POST", "/v1/coupons", json=coupon)).status_code == 201
    customer = await postpaid_customer(admin, MSISDN, coupon="WELCOME2")
    profile = await profile_of(admin.pool, customer["id"])
    engine = admin.engine
    now = engine.clock.now  # 18 November 2026
    for i in range(3):
        await engine.stub.ChargeEvent(sms(MSISDN, f"s{i}", now))
    await engine.stub.StartSession(voice(MSISDN, "call", 1, now, requested=120))
    engine.clock.advance(90)
    await engine.stub.EndSession(voice(MSISDN, "call", 2, engine.clock.now, used=90))
    expected = len(await engine.rated_records())
    async with running_batch(redis_url, database_url) as batch:
        await eventually(lambda: batch.metrics.ingested.labels("rated")._value.get() >= expected)
    async with admin.pool.acquire() as conn:
        rated = await conn.fetchval(
            "SELECT sum(cost) FROM rated_events WHERE account_id = $1", customer["account_id"]
        )
    assert rated == Decimal("0.39")  # 3 SMS at 0.05 and 2 minutes to Italy at 0.12

    report = await run_billing(admin.pool, context(DEC), FACTS)
    async with admin.pool.acquire() as conn:
        bills = await conn.fetch(
            "SELECT id, status FROM bills WHERE billing_profile_id = $1 ORDER BY id", profile
        )
        (invoice,) = report.invoices
        document = await load_document(conn, invoice.invoice_id)
    first = bills[0]["id"]
    # the manual's example: 110 active and 111 inactive -> 110 billing, 111 active, 112 inactive
    assert [(b["id"] - first, b["status"]) for b in bills] == [
        (0, "billing"),
        (1, "active"),
        (2, "inactive"),
    ]
    kinds = [(line.kind, line.description) for line in document.lines]
    assert ("usage", "Usage sms (sms-std:*)") in kinds
    assert any(kind == "recurring" and "monthly-fee" in text for kind, text in kinds)
    assert any(kind == "discount" and "WELCOME2" in text for kind, text in kinds)
    assert sum((line.net for line in document.lines if line.kind == "usage"), Decimal(0)) == rated
    assert document.total == document.net_total + document.tax_total
    assert document.taxes[0].rate == Decimal(22)
    assert document.amount_due == document.total
    # the customer's documents: the PDF shows the figures, the Factur-X XML passes its schema
    text = "".join(
        page.extract_text() for page in PdfReader(BytesIO(render(document, "pdf"))).pages
    )
    for shown in (invoice.number, "monthly-fee", "WELCOME2", "22", str(document.total)):
        assert str(shown) in text
    name, xml = facturx.get_xml_from_pdf(render(document, "facturx"), check_xsd=False)
    assert name == "factur-x.xml"
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")

    async with admin.pool.acquire() as conn, conn.transaction():
        await record_payment(conn, pay(profile, "10.00", "part", invoice.invoice_id))
    async with admin.pool.acquire() as conn, conn.transaction():
        rest = document.total - Decimal("10.00")
        await record_payment(conn, pay(profile, str(rest + Decimal("5.00")), "rest"))
    async with admin.pool.acquire() as conn:
        closed = await conn.fetchrow(
            "SELECT i.status, b.status AS bill, p.credit_balance FROM invoices i"
            " JOIN bills b ON b.id = i.bill_id"
            " JOIN billing_profiles p ON p.id = i.billing_profile_id"
            " WHERE i.id = $1",
            invoice.invoice_id,
        )
    assert tuple(closed) == ("closed", "closed", Decimal("5.00"))

    (second,) = (await run_billing(admin.pool, context(JAN), FACTS)).invoices
    async with admin.pool.acquire() as conn:
        next_document = await load_document(conn, second.invoice_id)
        reconciled = await reconcile_billing(
            conn, datetime(2026, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
        )
    assert next_document.credit_applied == Decimal("5.00")
    assert next_document.amount_due == next_document.total - Decimal("5.00")
    assert reconciled.balanced, reconciled.differences
