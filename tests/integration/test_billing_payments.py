"""Payments against issued invoices: partial, the rest, overpayment to credit balance used by
the next invoice, refunds, idempotency and bad input (nothing written)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tarif_billing.payments import PaymentIn, record_payment
from tarif_billing.reconcile import reconcile_billing
from tarif_billing.runs import run_billing
from tarif_common.errors import Conflict, InvalidRequest, NotFound
from tests.integration.admin_harness import Admin
from tests.integration.billing_harness import (
    FACTS,
    context,
    counts,
    postpaid_customer,
    profile_of,
    store_usage,
)

DEC = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
JAN = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)


async def state(admin: Admin, profile: int) -> dict[str, Any]:
    async with admin.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT pending_total, credit_balance FROM billing_profiles WHERE id = $1", profile
        )
        invoices = await conn.fetch(
            "SELECT i.number, i.status, i.amount_due, i.credit_applied, b.status AS bill"
            " FROM invoices i JOIN bills b ON b.id = i.bill_id"
            " WHERE i.billing_profile_id = $1 ORDER BY i.id",
            profile,
        )
        journal = await conn.fetchrow("SELECT sum(debit) AS d, sum(credit) AS c FROM journal_lines")
    assert journal["d"] == journal["c"]
    return {
        "pending": row["pending_total"],
        "credit": row["credit_balance"],
        "invoices": [tuple(r) for r in invoices],
    }


def pay(profile: int, amount: str, request: str, **kw: Any) -> PaymentIn:
    return PaymentIn(
        request_id=request,
        billing_profile_id=profile,
        kind=kw.pop("kind", "charge"),
        method=kw.pop("method", "transfer"),
        amount=Decimal(amount),
        currency=kw.pop("currency", "EUR"),
        **kw,
    )


async def test_partial_payment_the_rest_then_overpayment_to_credit(admin: Admin) -> None:
    customer = await postpaid_customer(admin, "38640700001", plan="basic")
    profile = await profile_of(admin.pool, customer["id"])
    await store_usage(
        admin.pool,
        customer["account_id"],
        ("e:1", "voice", datetime(2026, 11, 20, tzinfo=UTC), "10.00"),
    )
    (invoice,) = (await run_billing(admin.pool, context(DEC), FACTS)).invoices
    assert invoice.total == Decimal("12.20")  # 10.00 + 22 % VAT
    async with admin.pool.acquire() as conn, conn.transaction():
        first = await record_payment(
            conn, pay(profile, "5.00", "p1", invoice_id=invoice.invoice_id, reference="T-1")
        )
    assert [(a.number, a.amount) for a in first.allocations] == [("INV-000001", Decimal("5.00"))]
    assert (await state(admin, profile))["invoices"] == [
        ("INV-000001", "billing", Decimal("7.20"), Decimal(0), "billing")
    ]
    async with admin.pool.acquire() as conn, conn.transaction():
        replay = await record_payment(conn, pay(profile, "5.00", "p1"))
        assert replay.replayed
        assert replay.id == first.id
        with pytest.raises(Conflict, match="different payment"):
            await record_payment(conn, pay(profile, "6.00", "p1"))
        rest = await record_payment(conn, pay(profile, "10.00", "p2", method="cash"))
    assert rest.to_credit == Decimal("2.80")
    after = await state(admin, profile)
    assert after["invoices"] == [("INV-000001", "closed", Decimal(0), Decimal(0), "closed")]
    assert (after["pending"], after["credit"]) == (Decimal(0), Decimal("2.80"))

    # the credit balance pays part of the next invoice
    await store_usage(
        admin.pool,
        customer["account_id"],
        ("e:2", "voice", datetime(2026, 12, 20, tzinfo=UTC), "5.00"),
    )
    (second,) = (await run_billing(admin.pool, context(JAN), FACTS)).invoices
    assert second.total == Decimal("6.10")
    assert second.amount_due == Decimal("3.30")
    after = await state(admin, profile)
    assert after["invoices"][1] == (
        "INV-000002",
        "billing",
        Decimal("3.30"),
        Decimal("2.80"),
        "billing",
    )
    assert (after["pending"], after["credit"]) == (Decimal("3.30"), Decimal(0))


async def test_bad_payments_are_refused_and_write_nothing(admin: Admin) -> None:
    customer = await postpaid_customer(admin, "38640700002", plan="basic")
    profile = await profile_of(admin.pool, customer["id"])
    await store_usage(
        admin.pool,
        customer["account_id"],
        ("e:1", "voice", datetime(2026, 11, 20, tzinfo=UTC), "1.00"),
    )
    (invoice,) = (await run_billing(admin.pool, context(DEC), FACTS)).invoices
    async with admin.pool.acquire() as conn, conn.transaction():
        await record_payment(conn, pay(profile, "1.22", "paid", invoice_id=invoice.invoice_id))
    before = await counts(admin.pool)
    bad: list[tuple[PaymentIn, type[Exception], str]] = [
        (pay(profile, "0", "a"), InvalidRequest, "greater than zero"),
        (pay(profile, "-1", "b"), InvalidRequest, "greater than zero"),
        (pay(profile, "1", "c", currency="USD"), InvalidRequest, "billed in EUR"),
        (pay(profile, "1", "d", invoice_id=999999), NotFound, "not found"),
        (pay(profile, "1", "e", invoice_id=invoice.invoice_id), Conflict, "closed"),
        (pay(999999, "1", "f"), NotFound, "billing profile"),
        (pay(profile, "1", "g", kind="refund"), Conflict, "exceeds the credit balance"),
    ]
    for payment, error, message in bad:
        with pytest.raises(error, match=message):
            async with admin.pool.acquire() as conn, conn.transaction():
                await record_payment(conn, payment)
    assert await counts(admin.pool) == before


async def test_refund_gives_back_credit_balance(admin: Admin) -> None:
    customer = await postpaid_customer(admin, "38640700003", plan="basic")
    profile = await profile_of(admin.pool, customer["id"])
    async with admin.pool.acquire() as conn, conn.transaction():
        prepay = await record_payment(conn, pay(profile, "20.00", "pre"))
        assert prepay.to_credit == Decimal("20.00")
        await record_payment(conn, pay(profile, "15.00", "back", kind="refund"))
    assert (await state(admin, profile))["credit"] == Decimal("5.00")


async def test_reconciliation_balances_and_finds_a_difference(admin: Admin) -> None:
    customer = await postpaid_customer(admin, "38640700004", plan="smart")
    profile = await profile_of(admin.pool, customer["id"])
    await store_usage(
        admin.pool,
        customer["account_id"],
        ("e:1", "voice", datetime(2026, 11, 20, tzinfo=UTC), "3.33"),
        ("e:2", "sms", datetime(2026, 11, 21, tzinfo=UTC), "0.05"),
    )
    (invoice,) = (await run_billing(admin.pool, context(DEC), FACTS)).invoices
    # late usage, then the next cycle, a payment and an overpayment
    await store_usage(
        admin.pool,
        customer["account_id"],
        ("e:late", "voice", datetime(2026, 11, 28, tzinfo=UTC), "1.11"),
    )
    async with admin.pool.acquire() as conn, conn.transaction():
        await record_payment(conn, pay(profile, "50.00", "p", invoice_id=invoice.invoice_id))
    await run_billing(admin.pool, context(JAN), FACTS)
    period = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    async with admin.pool.acquire() as conn:
        report = await reconcile_billing(conn, *period)
        assert report.balanced, report.differences
        # a record slipped into a billed period without passing the ingest rule is found
        await conn.execute("UPDATE rated_events SET cost = cost + 1 WHERE request_id = 'e:1'")
        found = await reconcile_billing(conn, *period)
    assert not found.balanced
    assert [d["billing_profile_id"] for d in found.differences["usage_vs_items"]] == [profile]
