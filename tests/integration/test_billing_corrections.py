"""Adjustments of bills (items on open bills, credit notes on billed ones) against Postgres."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tarif_billing.corrections import AdjustmentIn, adjust_bill
from tarif_billing.payments import PaymentIn, record_payment
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

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
DEC = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)


async def test_adjustments_of_open_and_billed_bills(admin: Admin) -> None:
    customer = await postpaid_customer(admin, "38640800001", plan="basic")
    profile = await profile_of(admin.pool, customer["id"])
    await store_usage(
        admin.pool,
        customer["account_id"],
        ("e:1", "voice", datetime(2026, 11, 20, tzinfo=UTC), "10.00"),
    )
    await run_billing(admin.pool, context(NOW), FACTS)  # opens the bills
    async with admin.pool.acquire() as conn:
        active = await conn.fetchval(
            "SELECT id FROM bills WHERE billing_profile_id = $1 AND status = 'active'", profile
        )
    async with admin.pool.acquire() as conn, conn.transaction():
        # a goodwill credit without VAT on the open bill
        done = await adjust_bill(
            conn,
            AdjustmentIn("adj-1", active, Decimal("-2.00"), "goodwill", tax="VAT0"),
            context(NOW),
        )
        assert done.credit_note_id is None
        again = await adjust_bill(
            conn,
            AdjustmentIn("adj-1", active, Decimal("-2.00"), "goodwill", tax="VAT0"),
            context(NOW),
        )
        assert again.replayed
    (invoice,) = (await run_billing(admin.pool, context(DEC), FACTS)).invoices
    # 10.00 at 22 % and -2.00 at 0 %: 12.20 - 2.00
    assert invoice.total == Decimal("10.20")
    async with admin.pool.acquire() as conn:
        taxes = await conn.fetch(
            "SELECT category, rate, taxable, tax FROM invoice_taxes WHERE invoice_id = $1"
            " ORDER BY category",
            invoice.invoice_id,
        )
    assert [tuple(t) for t in taxes] == [
        ("S", Decimal(22), Decimal("10.00"), Decimal("2.20")),
        ("Z", Decimal(0), Decimal("-2.00"), Decimal("0.00")),
    ]
    # on the billed bill, a credit is a credit note against its invoice
    async with admin.pool.acquire() as conn, conn.transaction():
        note = await adjust_bill(
            conn, AdjustmentIn("adj-2", invoice.bill_id, Decimal("-5.00"), "outage"), context(DEC)
        )
    assert note.credit_note_number == "CN-000001"
    async with admin.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT n.total, n.status, n.corrects_id, i.amount_due, i.credited FROM invoices n"
            " JOIN invoices i ON i.id = n.corrects_id WHERE n.id = $1",
            note.credit_note_id,
        )
        pending = await conn.fetchval(
            "SELECT pending_total FROM billing_profiles WHERE id = $1", profile
        )
    assert (row["total"], row["status"], row["corrects_id"]) == (
        Decimal("6.10"),
        "closed",
        invoice.invoice_id,
    )
    assert (row["amount_due"], row["credited"], pending) == (
        Decimal("4.10"),
        Decimal("6.10"),
        Decimal("4.10"),
    )

    before = await counts(admin.pool)
    bad = [
        (AdjustmentIn("b1", invoice.bill_id, Decimal("1.00"), "more"), Conflict, "active bill"),
        (AdjustmentIn("b2", invoice.bill_id, Decimal(0), "zero"), InvalidRequest, "zero"),
        (AdjustmentIn("b3", 999999, Decimal(-1), "x"), NotFound, "bill 999999"),
        (AdjustmentIn("b4", invoice.bill_id, Decimal(-1), "x", tax="NOPE"), NotFound, "tax"),
        (
            AdjustmentIn("b5", invoice.bill_id, Decimal(-1), "x", bill_item_id=999999),
            NotFound,
            "item",
        ),
    ]
    for adjustment, error, message in bad:
        with pytest.raises(error, match=message):
            async with admin.pool.acquire() as conn, conn.transaction():
                await adjust_bill(conn, adjustment, context(DEC))
    assert await counts(admin.pool) == before
    # paid in full: the bill is closed and cannot be adjusted
    async with admin.pool.acquire() as conn, conn.transaction():
        await record_payment(
            conn,
            PaymentIn("pay", profile, "charge", "transfer", Decimal("4.10"), "EUR"),
        )
    with pytest.raises(Conflict, match="closed"):
        async with admin.pool.acquire() as conn, conn.transaction():
            await adjust_bill(
                conn, AdjustmentIn("b6", invoice.bill_id, Decimal(-1), "x"), context(DEC)
            )


async def test_a_hierarchy_members_invoice_is_owed_by_the_owner(admin: Admin) -> None:
    owner = await postpaid_customer(admin, "38640800010", plan="basic")
    member = await postpaid_customer(admin, "38640800011", plan="basic")
    owner_profile = await profile_of(admin.pool, owner["id"])
    member_profile = await profile_of(admin.pool, member["id"])
    group = {"id": "acme", "owner_id": owner["id"], "billing_profile_id": owner_profile}
    assert (await admin.call("POST", "/v1/hierarchy-groups", json=group)).status_code == 201
    joined = await admin.call("PUT", f"/v1/hierarchy-groups/acme/members/{member['id']}")
    assert joined.status_code == 200
    await store_usage(
        admin.pool,
        member["account_id"],
        ("m:1", "voice", datetime(2026, 11, 20, tzinfo=UTC), "10.00"),
    )
    await store_usage(
        admin.pool, owner["account_id"], ("o:1", "voice", datetime(2026, 12, 3, tzinfo=UTC), "1.00")
    )
    report = await run_billing(admin.pool, context(DEC), FACTS)
    (member_invoice,) = [i for i in report.invoices if i.total]
    async with admin.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM invoices WHERE id = $1", member_invoice.invoice_id)
        member_pending = await conn.fetchval(
            "SELECT pending_total FROM billing_profiles WHERE id = $1", member_profile
        )
    assert (row["transferred"], row["amount_due"], row["status"]) == (
        Decimal("12.20"),
        Decimal(0),
        "closed",
    )
    assert row["transferred_to"] == owner_profile
    assert "hierarchy group owner" in row["notes"][0]
    assert member_pending == 0
    (owner_invoice,) = [
        i
        for i in (
            await run_billing(admin.pool, context(datetime(2026, 12, 31, 23, tzinfo=UTC)), FACTS)
        ).invoices
        if i.total
    ]
    async with admin.pool.acquire() as conn:
        lines = await conn.fetch(
            "SELECT kind, net, tax_category FROM invoice_lines WHERE invoice_id = $1"
            " ORDER BY number",
            owner_invoice.invoice_id,
        )
        owner_pending = await conn.fetchval(
            "SELECT pending_total FROM billing_profiles WHERE id = $1", owner_profile
        )
        transfers = await conn.fetchval(
            "SELECT sum(debit) - sum(credit) FROM journal_lines"
            " WHERE account = 'hierarchy_transfers'"
        )
    assert [tuple(x) for x in lines] == [
        ("usage", Decimal("1.00"), "S"),
        ("transfer", Decimal("12.20"), "O"),
    ]
    assert owner_invoice.total == owner_pending == Decimal("13.42")
    assert transfers == 0
