"""Usage-triggered invoicing on real Postgres: the usage of a product marked `invoice_on_usage`
is invoiced as soon as the job runs, its records collected, its invoicing schedule line
calculated then invoiced; never twice, and never on the cycle bill too."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from billing_batch.rated import ensure_partitions
from tarif_billing.reconcile import reconcile_billing
from tarif_billing.runs import run_billing
from tests.integration.admin_harness import Admin
from tests.integration.billing_harness import FACTS, context, postpaid_customer, profile_of
from tests.integration.invoicing_harness import DEC, run_job, settings

MSISDN = "38640710001"  # the plan's line (voice, sms, data): billed on the cycle
IOT = "38640719001"  # a line of the iot-line product: invoiced on usage
NOV_25 = datetime(2026, 11, 25, tzinfo=UTC)
JAN = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)


async def store(
    pool: asyncpg.Pool, account: str, *records: tuple[str, str, str, datetime, str]
) -> None:
    """Rated records (request id, subscriber, service, event time, cost in EUR) as ingested."""
    async with pool.acquire() as conn, conn.transaction():
        await ensure_partitions(conn, [r[3] for r in records])
        await conn.executemany(
            "INSERT INTO rated_events (account_id, request_id, kind, subscriber, service, rate,"
            " event_time, charged_at, units, rated_units, cost, currency)"
            " VALUES ($1, $2, 'event', $3, $4, $4 || '-std:*', $5, $5, 100, 100, $6, 'EUR')",
            [(account, r[0], r[1], r[2], r[3], Decimal(r[4])) for r in records],
        )


async def iot_customer(admin: Admin) -> dict[str, Any]:
    """A postpaid customer (VAT22) whose subscription bought an IoT line invoiced on usage."""
    product = {"service": "data", "price": "0", "invoice_on_usage": True}
    assert (await admin.call("PUT", "/v1/catalog/products/iot-line", json=product)).is_success
    pack = {"products": [{"product": "iot-line"}]}
    assert (await admin.call("PUT", "/v1/catalog/packs/iot", json=pack)).is_success
    customer = await postpaid_customer(admin, MSISDN, plan="basic")
    cid, sid = customer["id"], customer["subscriptions"][0]["id"]
    body = {
        "pack": "iot",
        "request_id": "iot-1",
        "products": [{"product": "iot-line", "services": [IOT]}],
    }
    bought = await admin.call("POST", f"/v1/customers/{cid}/subscriptions/{sid}/packs", json=body)
    assert bought.status_code == 201, bought.text
    profile = await profile_of(admin.pool, cid)
    await admin.pool.execute("UPDATE billing_profiles SET tax = 'VAT22' WHERE id = $1", profile)
    return customer | {"profile": profile, "purchase": bought.json()["items"][0]["id"]}


async def collected(pool: asyncpg.Pool) -> dict[str, int | None]:
    rows = await pool.fetch("SELECT request_id, collected_bill_id FROM rated_events")
    return {r["request_id"]: r["collected_bill_id"] for r in rows}


async def usage_items(pool: asyncpg.Pool, bill_id: int) -> dict[str, str]:
    rows = await pool.fetch(
        "SELECT description, amount FROM bill_items WHERE bill_id = $1 AND kind = 'usage'",
        bill_id,
    )
    return {r["description"]: str(r["amount"]) for r in rows}


async def test_usage_of_a_marked_product_is_invoiced_at_once_and_never_twice(
    admin: Admin,
) -> None:
    customer = await iot_customer(admin)
    account, profile = customer["account_id"], customer["profile"]
    await store(
        admin.pool,
        account,
        ("e:1", IOT, "data", datetime(2026, 11, 20, tzinfo=UTC), "1.00"),
        ("e:2", IOT, "data", datetime(2026, 11, 21, tzinfo=UTC), "0.50"),
        ("e:3", MSISDN, "voice", datetime(2026, 11, 22, tzinfo=UTC), "2.00"),
        ("e:4", MSISDN, "data", datetime(2026, 11, 22, tzinfo=UTC), "0.30"),  # the plan's line
        ("e:5", IOT, "data", datetime(2026, 11, 27, tzinfo=UTC), "0.40"),  # after "process now"
    )
    job_settings = settings(None)

    nobody = await run_job(
        admin.pool,
        "usage_invoicing",
        job_settings,
        admin.engine.redis,
        at=NOV_25,
        criteria={"customer_types": ["business"]},
    )
    assert nobody.counts == (0, 0, 0)
    first = await run_job(
        admin.pool, "usage_invoicing", job_settings, admin.engine.redis, at=NOV_25
    )

    assert first.counts == (1, 1, 0)
    bill = await admin.pool.fetchrow(
        "SELECT * FROM bills WHERE billing_profile_id = $1 AND kind = 'usage'", profile
    )
    assert (bill["status"], bill["period_start"], bill["period_end"]) == (
        "billing",
        datetime(2026, 11, 20, tzinfo=UTC),
        NOV_25,
    )
    assert await usage_items(admin.pool, bill["id"]) == {
        "Usage data (data-std:*) - iot-line": "1.50"
    }
    invoice = await admin.pool.fetchrow("SELECT * FROM invoices WHERE bill_id = $1", bill["id"])
    assert (invoice["number"], invoice["status"], invoice["total"]) == (
        "INV-000001",
        "billing",
        Decimal("1.83"),  # 1.50 + 22 % VAT
    )
    assert invoice["issue_date"].isoformat() == "2026-11-25"
    assert invoice["email_pending"]  # the invoicing job e-mails it
    assert await collected(admin.pool) == {
        "e:1": bill["id"],
        "e:2": bill["id"],
        "e:3": None,
        "e:4": None,
        "e:5": None,
    }
    (line,) = await admin.pool.fetch("SELECT * FROM invoicing_schedule")
    assert (line["product"], line["purchase_id"], line["records"], line["amount"]) == (
        "iot-line",
        customer["purchase"],
        2,
        Decimal("1.50"),
    )
    assert (line["status"], line["invoice_id"], line["run_id"]) == (
        "invoiced",
        invoice["id"],
        first.run_id,
    )
    assert line["invoiced_at"] is not None
    assert (line["first_event"], line["last_event"], line["process_now"]) == (
        datetime(2026, 11, 20, tzinfo=UTC),
        datetime(2026, 11, 21, tzinfo=UTC),
        NOV_25,
    )

    # the same run again: nothing is collected or invoiced twice
    again = await run_job(
        admin.pool, "usage_invoicing", job_settings, admin.engine.redis, at=NOV_25
    )
    assert again.counts == (0, 0, 0)
    assert await admin.pool.fetchval("SELECT count(*) FROM bills WHERE kind = 'usage'") == 1

    # the cycle's bill skips the collected records; e:5, still pending when it was made, is
    # billed there (once) and never collected afterwards
    cycle = await run_billing(admin.pool, context(DEC, default_tax=None), FACTS)
    (issued,) = cycle.invoices
    assert await usage_items(admin.pool, issued.bill_id) == {
        "Usage voice (voice-std:*)": "2.00",
        "Usage data (data-std:*)": "0.70",
    }
    late = await run_job(admin.pool, "usage_invoicing", job_settings, admin.engine.redis, at=DEC)
    assert late.counts == (0, 0, 0)
    assert (await collected(admin.pool))["e:5"] is None

    # after the cycle: new usage, and a late record of November stored after the cycle's bill
    await store(
        admin.pool,
        account,
        ("e:6", IOT, "data", datetime(2026, 12, 5, tzinfo=UTC), "0.25"),
        ("e:7", IOT, "data", datetime(2026, 11, 29, tzinfo=UTC), "0.10"),
        ("e:8", MSISDN, "voice", datetime(2026, 12, 5, tzinfo=UTC), "1.00"),
    )
    december = datetime(2026, 12, 10, tzinfo=UTC)
    second = await run_job(
        admin.pool, "usage_invoicing", job_settings, admin.engine.redis, at=december
    )
    assert second.counts == (1, 1, 0)
    bill_2 = await admin.pool.fetchval(
        "SELECT id FROM bills WHERE kind = 'usage' ORDER BY id DESC LIMIT 1"
    )
    assert await usage_items(admin.pool, bill_2) == {"Usage data (data-std:*) - iot-line": "0.35"}
    states = await collected(admin.pool)
    assert (states["e:6"], states["e:7"], states["e:8"]) == (bill_2, bill_2, None)
    january = await run_billing(admin.pool, context(JAN, default_tax=None), FACTS)
    (issued,) = january.invoices
    assert await usage_items(admin.pool, issued.bill_id) == {"Usage voice (voice-std:*)": "1.00"}
    lines = await admin.pool.fetch("SELECT status, records FROM invoicing_schedule ORDER BY id")
    assert [(r["status"], r["records"]) for r in lines] == [("invoiced", 2), ("invoiced", 2)]
    # every record was billed once: the rated money equals the usage items of the bills
    async with admin.pool.acquire() as conn:
        report = await reconcile_billing(conn, NOV_25, datetime(2027, 1, 2, tzinfo=UTC))
    assert report.differences["usage_vs_items"] == []
    assert report.differences["bills_vs_invoices"] == []


async def test_a_failed_usage_invoice_is_made_again_by_a_retry(admin: Admin) -> None:
    customer = await iot_customer(admin)
    await admin.pool.execute(
        "UPDATE billing_profiles SET tax = NULL WHERE id = $1", customer["profile"]
    )
    await store(
        admin.pool,
        customer["account_id"],
        ("e:1", IOT, "data", datetime(2026, 11, 20, tzinfo=UTC), "1.00"),
    )
    job_settings = settings(None)
    first = await run_job(
        admin.pool, "usage_invoicing", job_settings, admin.engine.redis, at=NOV_25
    )
    assert first.counts == (1, 0, 1)
    (item,) = first.failed_items
    invoice = await admin.pool.fetchrow("SELECT id, status FROM invoices")
    assert (item["object_type"], item["object_id"]) == ("invoice", str(invoice["id"]))
    assert invoice["status"] == "failed"
    assert "no tax" in item["error"]
    (line,) = await admin.pool.fetch("SELECT status, invoice_id FROM invoicing_schedule")
    assert (line["status"], line["invoice_id"]) == ("calculated", invoice["id"])
    # collected once, even though its invoice failed: a plain run makes no second bill
    assert set((await collected(admin.pool)).values()) != {None}
    assert (
        await run_job(admin.pool, "usage_invoicing", job_settings, admin.engine.redis, at=NOV_25)
    ).counts == (0, 0, 0)

    await admin.pool.execute(
        "UPDATE billing_profiles SET tax = 'VAT22' WHERE id = $1", customer["profile"]
    )
    retry = await run_job(
        admin.pool,
        "usage_invoicing",
        job_settings,
        admin.engine.redis,
        at=NOV_25,
        only={item_ref(item)},
    )
    assert retry.counts == (1, 1, 0)
    assert (
        await admin.pool.fetchval("SELECT status FROM invoices WHERE id = $1", invoice["id"])
        == "billing"
    )
    (line,) = await admin.pool.fetch("SELECT status FROM invoicing_schedule")
    assert line["status"] == "invoiced"
    assert await admin.pool.fetchval("SELECT count(*) FROM bills WHERE kind = 'usage'") == 1


def item_ref(item: dict[str, Any]) -> Any:
    from tarif_jobs.runs import ItemRef

    return ItemRef(item["object_type"], item["object_id"])
