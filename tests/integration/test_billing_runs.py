"""Run billing, bill now and preview against real Postgres, through the billing library."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import pytest

from tarif_billing.opening import open_bills
from tarif_billing.runs import bill_now, preview_invoice, regenerate_failed, run_billing
from tarif_common.errors import Conflict, DatabaseError
from tests.integration.admin_harness import Admin, onboarding
from tests.integration.billing_harness import (
    FACTS,
    context,
    counts,
    postpaid_customer,
    profile_of,
    store_usage,
)

# The cycle of a monthly/day-1 profile in Europe/Ljubljana holding 2026-11-29 (the test clock's
# onboarding day) ends at local midnight of 1 December.
NOV = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
DEC = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
JAN = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)


async def bills_of(pool: asyncpg.Pool, profile: int) -> list[tuple[int, str, datetime]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, status, period_start FROM bills WHERE billing_profile_id = $1 ORDER BY id",
            profile,
        )
    return [(r["id"], r["status"], r["period_start"]) for r in rows]


async def test_run_billing_moves_the_cycle_and_issues_the_invoice(admin: Admin) -> None:
    customer = await postpaid_customer(admin, "38640600001")
    profile = await profile_of(admin.pool, customer["id"])
    account = customer["account_id"]
    await store_usage(
        admin.pool,
        account,
        ("e:1", "voice", datetime(2026, 11, 20, 9, tzinfo=UTC), "1.20"),
        ("e:2", "voice", datetime(2026, 11, 21, 9, tzinfo=UTC), "0.35"),
        ("e:3", "sms", datetime(2026, 11, 22, 9, tzinfo=UTC), "0.05"),
        ("e:4", "sms", datetime(2026, 12, 2, 9, tzinfo=UTC), "0.05"),  # next cycle
    )
    # before the cycle ends nothing is due: the run only opens the bills
    early = await run_billing(admin.pool, context(datetime(2026, 11, 29, tzinfo=UTC)), FACTS)
    assert (early.opened, early.billed) == (1, 0)
    (active, inactive) = await bills_of(admin.pool, profile)
    assert (active[1], inactive[1]) == ("active", "inactive")
    assert (active[2], inactive[2]) == (NOV, DEC)

    report = await run_billing(admin.pool, context(DEC), FACTS)
    assert report.billed == 1
    assert report.failed == 0
    assert [(b[0], b[1]) for b in await bills_of(admin.pool, profile)] == [
        (active[0], "billing"),
        (inactive[0], "active"),
        (inactive[0] + 1, "inactive"),
    ]
    (issued,) = report.invoices
    assert issued.number == "INV-000001"
    async with admin.pool.acquire() as conn:
        usage = await conn.fetch(
            "SELECT service, events, amount FROM bill_items WHERE bill_id = $1"
            " AND kind = 'usage' ORDER BY service",
            active[0],
        )
        invoice = await conn.fetchrow("SELECT * FROM invoices WHERE id = $1", issued.invoice_id)
        lines = await conn.fetch(
            "SELECT kind, net FROM invoice_lines WHERE invoice_id = $1 ORDER BY number",
            issued.invoice_id,
        )
        pending = await conn.fetchval(
            "SELECT pending_total FROM billing_profiles WHERE id = $1", profile
        )
        journal = await conn.fetchrow("SELECT sum(debit) d, sum(credit) c FROM journal_lines")
        bill = await conn.fetchrow(
            "SELECT b.total, sum(i.amount) FILTER (WHERE NOT i.informational) AS items,"
            " sum(i.amount) FILTER (WHERE i.kind = 'tax') AS tax"
            " FROM bills b JOIN bill_items i ON i.bill_id = b.id WHERE b.id = $1 GROUP BY b.id",
            active[0],
        )
    assert [(u["service"], u["events"], u["amount"]) for u in usage] == [
        ("sms", 1, Decimal("0.05")),
        ("voice", 2, Decimal("1.55")),
    ]
    net = sum((line["net"] for line in lines), Decimal(0))
    assert invoice["net_total"] == net
    assert invoice["total"] == invoice["net_total"] + invoice["tax_total"]
    assert invoice["amount_due"] == invoice["total"] == pending
    assert journal["d"] == journal["c"] > 0
    # the bill's items, its VAT included, add up to its total
    assert bill["total"] == bill["items"] == invoice["total"]
    assert bill["tax"] == invoice["tax_total"]

    # twice: nothing new
    before = await counts(admin.pool)
    again = await run_billing(admin.pool, context(DEC), FACTS)
    assert again.billed == 0
    assert await counts(admin.pool) == before


async def test_late_usage_goes_on_the_next_bill(admin: Admin) -> None:
    customer = await postpaid_customer(admin, "38640600002", plan="basic")
    profile = await profile_of(admin.pool, customer["id"])
    account = customer["account_id"]
    await store_usage(
        admin.pool, account, ("e:1", "voice", datetime(2026, 11, 20, tzinfo=UTC), "1.00")
    )
    await run_billing(admin.pool, context(DEC), FACTS)
    # a November record stored after November was billed
    await store_usage(
        admin.pool, account, ("e:late", "voice", datetime(2026, 11, 25, tzinfo=UTC), "2.00")
    )
    await store_usage(
        admin.pool, account, ("e:2", "voice", datetime(2026, 12, 5, tzinfo=UTC), "0.50")
    )
    await run_billing(admin.pool, context(JAN), FACTS)
    async with admin.pool.acquire() as conn:
        taken = await conn.fetch(
            "SELECT b.period_start, sum(i.amount) AS amount FROM bill_items i"
            " JOIN bills b ON b.id = i.bill_id WHERE b.billing_profile_id = $1 AND i.kind = 'usage'"
            " GROUP BY b.period_start ORDER BY b.period_start",
            profile,
        )
        stored = await conn.fetchval(
            "SELECT sum(cost) FROM rated_events WHERE account_id = $1", account
        )
    assert [(t["period_start"], t["amount"]) for t in taken] == [
        (NOV, Decimal("1.00")),
        (DEC, Decimal("2.50")),
    ]
    assert sum((t["amount"] for t in taken), Decimal(0)) == stored


async def test_preview_writes_nothing_and_equals_the_invoice_issued_later(admin: Admin) -> None:
    customer = await postpaid_customer(admin, "38640600003")
    profile = await profile_of(admin.pool, customer["id"])
    await store_usage(
        admin.pool,
        customer["account_id"],
        ("e:1", "voice", datetime(2026, 11, 20, tzinfo=UTC), "1.00"),
    )
    await run_billing(admin.pool, context(datetime(2026, 11, 29, tzinfo=UTC)), FACTS)  # opens
    before = await counts(admin.pool)
    async with admin.pool.acquire() as conn:
        preview = await preview_invoice(
            conn, profile, context(datetime(2026, 11, 29, tzinfo=UTC)), FACTS, details=True
        )
    assert await counts(admin.pool) == before
    assert preview.document is not None
    assert preview.events is not None
    assert [e["request_id"] for e in preview.events] == ["e:1"]
    report = await run_billing(admin.pool, context(DEC), FACTS)
    async with admin.pool.acquire() as conn:
        from tarif_billing.documents import load_document

        issued = await load_document(conn, report.invoices[0].invoice_id)
    shown = preview.document
    assert [(x.description, x.net, x.tax_rate) for x in shown.lines] == [
        (x.description, x.net, x.tax_rate) for x in issued.lines
    ]
    assert (shown.net_total, shown.tax_total, shown.total) == (
        issued.net_total,
        issued.tax_total,
        issued.total,
    )


async def test_bill_now_takes_the_charges_so_far(admin: Admin) -> None:
    customer = await postpaid_customer(admin, "38640600004", plan="basic")
    profile = await profile_of(admin.pool, customer["id"])
    account = customer["account_id"]
    await store_usage(
        admin.pool, account, ("e:1", "voice", datetime(2026, 11, 20, tzinfo=UTC), "1.00")
    )
    now = datetime(2026, 11, 25, tzinfo=UTC)
    async with admin.pool.acquire() as conn, conn.transaction():
        issued = await bill_now(conn, profile, context(now), FACTS)
    assert issued is not None
    assert issued.status == "billing"
    await store_usage(
        admin.pool, account, ("e:2", "voice", datetime(2026, 11, 26, tzinfo=UTC), "0.40")
    )
    await run_billing(admin.pool, context(DEC), FACTS)
    async with admin.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT b.kind, b.status, coalesce(sum(i.amount), 0) AS amount FROM bills b"
            " LEFT JOIN bill_items i ON i.bill_id = b.id AND i.kind = 'usage'"
            " WHERE b.billing_profile_id = $1 GROUP BY b.id ORDER BY b.id",
            profile,
        )
    assert [(r["kind"], r["status"], r["amount"]) for r in rows] == [
        ("cycle", "billing", Decimal("0.40")),
        ("cycle", "active", Decimal(0)),
        ("now", "billing", Decimal("1.00")),
        ("cycle", "inactive", Decimal(0)),
    ]


async def test_bill_now_with_nothing_to_bill_writes_nothing(admin: Admin) -> None:
    customer = await postpaid_customer(admin, "38640600009", plan="basic")
    profile = await profile_of(admin.pool, customer["id"])

    async def nothing_at(when: datetime) -> None:
        before = await counts(admin.pool)
        async with admin.pool.acquire() as conn, conn.transaction():
            with pytest.raises(Conflict, match="nothing to bill"):
                await bill_now(conn, profile, context(when), FACTS)
        assert await counts(admin.pool) == before

    async with admin.pool.acquire() as conn, conn.transaction():
        await open_bills(conn, datetime(2026, 11, 2, tzinfo=UTC), [profile])
    await nothing_at(datetime(2026, 11, 20, tzinfo=UTC))  # no usage, no fee on this plan
    await store_usage(
        admin.pool,
        customer["account_id"],
        ("e:1", "voice", datetime(2026, 11, 21, tzinfo=UTC), "1.00"),
    )
    async with admin.pool.acquire() as conn, conn.transaction():
        assert await bill_now(conn, profile, context(datetime(2026, 11, 25, tzinfo=UTC)), FACTS)
    await nothing_at(datetime(2026, 11, 26, tzinfo=UTC))
    kinds = await admin.pool.fetch(
        "SELECT kind, status FROM bills WHERE billing_profile_id = $1 ORDER BY id", profile
    )
    assert [(r["kind"], r["status"]) for r in kinds] == [
        ("cycle", "active"),
        ("cycle", "inactive"),
        ("now", "billing"),
    ]


async def test_an_invoice_that_cannot_be_issued_fails_then_is_made_again(admin: Admin) -> None:
    customer = await postpaid_customer(admin, "38640600005", plan="basic")
    profile = await profile_of(admin.pool, customer["id"])
    await store_usage(
        admin.pool,
        customer["account_id"],
        ("e:1", "voice", datetime(2026, 11, 20, tzinfo=UTC), "1.00"),
    )
    report = await run_billing(admin.pool, context(DEC, default_tax=None), FACTS)
    (failed,) = report.invoices
    assert (failed.status, failed.number) == ("failed", None)
    assert "no tax" in (failed.error or "")
    async with admin.pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM bills WHERE id = $1", failed.bill_id) == (
            "billing"
        )
        # still no tax: fails again, with no number taken
        assert (await regenerate_failed(conn, context(DEC, default_tax=None)))[0].status == "failed"
        await conn.execute("UPDATE billing_profiles SET tax = 'VAT22' WHERE id = $1", profile)
        (issued,) = await regenerate_failed(conn, context(DEC, default_tax=None))
        assert (issued.invoice_id, issued.status, issued.number) == (
            failed.invoice_id,
            "billing",
            "INV-000001",
        )
        assert await regenerate_failed(conn, context(DEC)) == []


UNBALANCED = """
WITH txn AS (
    INSERT INTO journal_transactions (kind, currency) VALUES ('payment', 'EUR') RETURNING id
)
INSERT INTO journal_lines (transaction_id, account, debit) SELECT id, 'cash', 5 FROM txn
"""


async def test_an_issued_invoice_never_changes(admin: Admin) -> None:
    customer = await postpaid_customer(admin, "38640600006", plan="basic")
    await store_usage(
        admin.pool,
        customer["account_id"],
        ("e:1", "voice", datetime(2026, 11, 20, tzinfo=UTC), "1.00"),
    )
    (issued,) = (await run_billing(admin.pool, context(DEC), FACTS)).invoices
    async with admin.pool.acquire() as conn:
        for change in (
            "UPDATE invoices SET total = total + 1 WHERE id = $1",
            "UPDATE invoices SET number = 'INV-X' WHERE id = $1",
            "UPDATE invoice_lines SET net = 0 WHERE invoice_id = $1",
            "DELETE FROM invoice_lines WHERE invoice_id = $1",
            "DELETE FROM invoices WHERE id = $1",
        ):
            with pytest.raises(DatabaseError, match="issued"):
                await conn.execute(change, issued.invoice_id)
        with pytest.raises(DatabaseError, match="does not balance"):
            await conn.execute(UNBALANCED)


async def test_prepaid_usage_and_fees_are_information_never_due(admin: Admin) -> None:
    answer = await admin.call(
        "POST",
        "/v1/customers",
        json=onboarding(
            "38640600007",
            subscription__plan="smart",
            subscription__balances=[{"id": "main", "resource": "EUR", "amount": "30.00"}],
            payment={"method": "invoice"},
        ),
    )
    assert answer.status_code == 201, answer.text
    customer = answer.json()
    profile = await profile_of(admin.pool, customer["id"])
    await store_usage(
        admin.pool,
        customer["account_id"],
        ("e:1", "voice", datetime(2026, 11, 20, tzinfo=UTC), "1.00"),
    )
    report = await run_billing(admin.pool, context(DEC), FACTS)
    assert report.billed == 1
    assert report.invoices == []  # nothing due: no invoice
    async with admin.pool.acquire() as conn:
        items = await conn.fetch(
            "SELECT i.kind, i.informational, b.status FROM bill_items i"
            " JOIN bills b ON b.id = i.bill_id WHERE b.billing_profile_id = $1",
            profile,
        )
        pending = await conn.fetchval(
            "SELECT pending_total FROM billing_profiles WHERE id = $1", profile
        )
    assert {i["kind"] for i in items} >= {"usage", "recurring"}
    assert all(i["informational"] for i in items)
    assert {i["status"] for i in items} == {"closed"}
    assert pending == 0


@pytest.mark.timeout(60)
async def test_a_profile_whose_rule_cannot_be_is_passed_over(admin: Admin) -> None:
    """Opening bills goes on past profiles it cannot open (it used to meet them again forever
    when a chunk held nothing else)."""
    broken = [await postpaid_customer(admin, f"3864060001{i}", plan="basic") for i in range(2)]
    fine = await postpaid_customer(admin, "38640600019", plan="basic")
    async with admin.pool.acquire() as conn:
        await conn.execute(
            "UPDATE billing_profiles SET time_zone = 'Mars/Olympus' WHERE customer_id = ANY($1)",
            [c["id"] for c in broken],
        )
    report = await run_billing(
        admin.pool, context(datetime(2026, 11, 29, tzinfo=UTC)), FACTS, chunk=1
    )
    assert report.opened == 1
    assert [b[1] for b in await bills_of(admin.pool, await profile_of(admin.pool, fine["id"]))] == [
        "active",
        "inactive",
    ]
