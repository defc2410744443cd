"""An issued invoice's lines and VAT rows never change: inserting, updating or deleting one is
refused by Postgres, whether one row or many rows of several invoices are written at once.
(Writing the lines of invoices being issued is what every billing run test does.)"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tarif_billing.runs import run_billing
from tarif_common.errors import DatabaseError
from tests.integration.admin_harness import Admin
from tests.integration.billing_harness import FACTS, context, postpaid_customer, store_usage

DEC = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
REFUSED = "is issued: its lines and taxes cannot change"


async def issued_invoices(admin: Admin) -> list[int]:
    for n, msisdn in enumerate(("38640610001", "38640610002")):
        customer = await postpaid_customer(admin, msisdn)
        at = datetime(2026, 11, 20, 9, tzinfo=UTC)
        await store_usage(admin.pool, customer["account_id"], (f"e:{n}", "voice", at, "1.20"))
    await run_billing(admin.pool, context(datetime(2026, 11, 29, tzinfo=UTC)), FACTS)
    report = await run_billing(admin.pool, context(DEC), FACTS)
    assert [i.status for i in report.invoices] == ["billing", "billing"]
    return [i.invoice_id for i in report.invoices]


async def test_lines_and_taxes_of_issued_invoices_are_frozen(admin: Admin) -> None:
    first, second = await issued_invoices(admin)
    add_line = (
        "INSERT INTO invoice_lines (invoice_id, number, kind, description, quantity, unit_price,"
        " net, tax, tax_category, tax_rate)"
        " SELECT id, 99, 'adjustment', 'late', 1, 1, 1, 'VAT22', 'S', 22"
        " FROM invoices WHERE id = ANY($1::bigint[])"
    )
    count = "SELECT count(*) FROM invoice_lines WHERE invoice_id = ANY($1::bigint[])"
    async with admin.pool.acquire() as conn:
        number = await conn.fetchval("SELECT number FROM invoices WHERE id = $1", first)
        before = await conn.fetchval(count, [first, second])
        for ids in ([first], [first, second]):  # one row; several invoices in one statement
            with pytest.raises(DatabaseError, match=REFUSED):
                await conn.execute(add_line, ids)
        with pytest.raises(DatabaseError, match=f"invoice {number} {REFUSED}"):
            await conn.execute(add_line, [first])
        with pytest.raises(DatabaseError, match=REFUSED):
            await conn.execute(
                "INSERT INTO invoice_taxes (invoice_id, category, rate, taxable, tax)"
                " VALUES ($1, 'Z', 0, 1, 0)",
                second,
            )
        with pytest.raises(DatabaseError, match=REFUSED):
            await conn.execute("UPDATE invoice_lines SET net = 0 WHERE invoice_id = $1", first)
        with pytest.raises(DatabaseError, match=REFUSED):
            await conn.execute("DELETE FROM invoice_taxes WHERE invoice_id = $1", second)
        after = await conn.fetchval(count, [first, second])
    assert after == before > 0
