"""Financial reporting: the journal of a month summed by account, ledger, ledger group, revenue
type and account type (exact), the revenue-recognition summary journal of a month, a report
run again in place, and the reports through the admin API (JSON and CSV)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
from redis.asyncio import Redis

from billing_batch.jobs.financial_reporting import compute_report
from tarif_billing.payments import PaymentIn, record_payment
from tarif_common.settings import Settings
from tarif_jobs.report_criteria import FinancialReportCriteria, Period
from tests.integration.admin_harness import Admin
from tests.integration.reports_harness import Line, customer, issue, run_job, seed

SETTINGS = Settings(redis_url="redis://unused", database_url="postgresql://unused")
APRIL_1 = datetime(2026, 4, 1, 0, 10, tzinfo=UTC)  # a monthly job's run: March is reported
D = Decimal


async def march(pool: asyncpg.Pool) -> None:
    """The month the tests report on: five documents and a payment in March 2026, one invoice
    before it (a yearly fee) and an invoice and a payment after it."""
    await seed(pool)
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO ledgers (name, ledger_group, revenue_type, account_type)"
            " VALUES ($1, $2, $3, 'revenue')",
            [
                ("voice", "telecom", "usage"),
                ("fees", "telecom", "recurring"),
                ("yearly", "telecom", "recurring"),
                ("hardware", "goods", "one_time"),
            ],
        )
    _, a = await customer(pool, 1)
    _, b = await customer(pool, 2, time_zone="Europe/Ljubljana")
    await issue(pool, b, date(2026, 2, 27), [Line("120.00", "yearly", date(2026, 2, 1),
                                                  date(2027, 1, 31))])  # fmt: skip
    d1 = await issue(
        pool,
        a,
        date(2026, 3, 5),
        [Line("10.00", "voice", kind="usage"),
         Line("30.00", "fees", date(2026, 3, 1), date(2026, 3, 31))],
    )  # fmt: skip
    d2 = await issue(pool, b, date(2026, 3, 20), [Line("100.00", "hardware", kind="one_time"),
                                                  Line("5.00", None, kind="one_time")])  # fmt: skip
    await issue(pool, b, date(2026, 3, 25), [Line("20.00", "hardware")], corrects=d2)
    # billed in arrears: February's fee on an invoice of 31 March
    await issue(pool, a, date(2026, 3, 31), [Line("14.00", "fees", date(2026, 2, 1),
                                                  date(2026, 2, 28))])  # fmt: skip
    await issue(pool, a, date(2026, 4, 2), [Line("30.00", "fees", date(2026, 4, 1),
                                                 date(2026, 4, 30))])  # fmt: skip
    async with pool.acquire() as conn, conn.transaction():
        await record_payment(
            conn,
            PaymentIn("p1", a, "charge", "transfer", D("48.80"), "EUR", invoice_id=d1,
                      received_at=datetime(2026, 3, 10, 12, tzinfo=UTC)),
        )  # fmt: skip
        # 31 March 22:30 UTC is 1 April in Ljubljana, the profile's time zone: booked in April
        await record_payment(
            conn,
            PaymentIn("p2", b, "charge", "cash", D("50.00"), "EUR",
                      received_at=datetime(2026, 3, 31, 22, 30, tzinfo=UTC)),
        )  # fmt: skip


def lines_of(rows: list[dict[str, Any]], dimension: str, *names: str) -> dict[Any, tuple[Any, ...]]:
    """The lines of one dimension by their key: the named figures, as decimals."""
    key = {"account": "account", "total": "currency"}.get(dimension, dimension)
    return {
        r[key]: tuple(D(r[n]) if n != "entries" else r[n] for n in names)
        for r in rows
        if r["dimension"] == dimension
    }


async def stored_lines(pool: asyncpg.Pool, report_id: int) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT * FROM financial_report_lines WHERE report_id = $1 ORDER BY position", report_id
    )
    return [dict(r) for r in rows]


async def the_report(pool: asyncpg.Pool, kind: str = "journal") -> asyncpg.Record:
    (report,) = await pool.fetch("SELECT * FROM financial_reports WHERE kind = $1", kind)
    return report


async def test_the_journal_of_a_month_summed_every_way(pg: asyncpg.Pool, redis: Redis) -> None:
    await march(pg)
    outcome = await run_job(pg, redis, SETTINGS, "financial_reporting", {}, APRIL_1)
    assert (outcome.total, outcome.succeeded, outcome.failed) == (1, 1, 0)
    report = await the_report(pg)
    assert (report["period_start"], report["period_end"]) == (date(2026, 3, 1), date(2026, 4, 1))
    assert report["run_id"] == outcome.run_id
    rows = await stored_lines(pg, report["id"])
    figures = ("debit", "credit", "net")
    assert lines_of(rows, "account", *figures, "entries") == {
        "receivable": (D("193.98"), D("73.20"), D("120.78"), 5),
        "revenue:voice": (D(0), D("10.00"), D("-10.00"), 1),
        "revenue:fees": (D(0), D("44.00"), D("-44.00"), 2),
        "revenue:hardware": (D("20.00"), D("100.00"), D("-80.00"), 2),
        "revenue:sales": (D(0), D("5.00"), D("-5.00"), 1),
        "tax:VAT22": (D("4.40"), D("34.98"), D("-30.58"), 4),
        "cash:transfer": (D("48.80"), D(0), D("48.80"), 1),
    }
    classified = {
        r["account"]: (r["ledger"], r["ledger_group"], r["revenue_type"], r["account_type"])
        for r in rows
        if r["dimension"] == "account"
    }
    assert classified["revenue:sales"] == ("sales", "revenue", "", "revenue")  # not in the table
    assert classified["revenue:hardware"] == ("hardware", "goods", "one_time", "revenue")
    assert classified["tax:VAT22"] == ("tax:VAT22", "tax", "", "liability")
    assert classified["cash:transfer"] == ("cash:transfer", "cash", "", "asset")
    assert lines_of(rows, "ledger_group", *figures) == {
        "telecom": (D(0), D("54.00"), D("-54.00")),
        "goods": (D("20.00"), D("100.00"), D("-80.00")),
        "revenue": (D(0), D("5.00"), D("-5.00")),
        "receivable": (D("193.98"), D("73.20"), D("120.78")),
        "tax": (D("4.40"), D("34.98"), D("-30.58")),
        "cash": (D("48.80"), D(0), D("48.80")),
    }
    assert lines_of(rows, "revenue_type", *figures) == {
        "usage": (D(0), D("10.00"), D("-10.00")),
        "recurring": (D(0), D("44.00"), D("-44.00")),
        "one_time": (D("20.00"), D("100.00"), D("-80.00")),
        "": (D("247.18"), D("113.18"), D("134.00")),
    }
    assert lines_of(rows, "account_type", *figures) == {
        "revenue": (D("20.00"), D("159.00"), D("-139.00")),
        "asset": (D("242.78"), D("73.20"), D("169.58")),
        "liability": (D("4.40"), D("34.98"), D("-30.58")),
    }
    assert len(lines_of(rows, "ledger", "net")) == 7
    # the journal balances: the total of the month nets to zero
    assert lines_of(rows, "total", *figures, "entries") == {
        "EUR": (D("267.18"), D("267.18"), D(0), 16)
    }


async def test_a_report_keeps_to_its_filters(pg: asyncpg.Pool, redis: Redis) -> None:
    await march(pg)
    criteria = {"account_types": ["revenue"], "ledger_groups": ["telecom", "goods"]}
    await run_job(pg, redis, SETTINGS, "financial_reporting", criteria, APRIL_1)
    report = await the_report(pg)
    assert report["filters"] == {
        "ledgers": [], "ledger_groups": ["goods", "telecom"], "revenue_types": [],
        "account_types": ["revenue"],
    }  # fmt: skip
    rows = await stored_lines(pg, report["id"])
    assert set(lines_of(rows, "account", "net")) == {
        "revenue:voice", "revenue:fees", "revenue:hardware"
    }  # fmt: skip
    assert lines_of(rows, "total", "net") == {"EUR": (D("-134.00"),)}


async def test_revenue_recognition_of_a_month(pg: asyncpg.Pool, redis: Redis) -> None:
    await march(pg)
    criteria = {"report": "revenue_recognition", "period": {"year": 2026, "month": 3}}
    outcome = await run_job(pg, redis, SETTINGS, "financial_reporting", criteria, APRIL_1)
    assert (outcome.succeeded, outcome.failed) == (1, 0)
    rows = await stored_lines(pg, (await the_report(pg, "revenue_recognition"))["id"])
    names = ("opening_deferred", "billed", "recognized", "closing_deferred")
    # the yearly fee: 365 days from 1 February; 28 were recognized in February (9.21 of 120),
    # 59 by the end of March (19.40); arrears (February's fee billed on 31 March) all in March
    assert lines_of(rows, "account", *names) == {
        "revenue:yearly": (D("110.79"), D(0), D("10.19"), D("100.60")),
        "revenue:fees": (D(0), D("44.00"), D("44.00"), D(0)),
        "revenue:hardware": (D(0), D("80.00"), D("80.00"), D(0)),
        "revenue:sales": (D(0), D("5.00"), D("5.00"), D(0)),
        "revenue:voice": (D(0), D("10.00"), D("10.00"), D(0)),
    }
    assert lines_of(rows, "ledger_group", *names)["telecom"] == (
        D("110.79"), D("54.00"), D("64.19"), D("100.60")
    )  # fmt: skip
    assert lines_of(rows, "revenue_type", *names)["recurring"] == (
        D("110.79"), D("44.00"), D("54.19"), D("100.60")
    )  # fmt: skip
    assert lines_of(rows, "total", *names) == {
        "EUR": (D("110.79"), D("139.00"), D("149.19"), D("100.60"))
    }
    assert all(r["debit"] is None and r["net"] is None for r in rows)


async def test_a_yearly_fee_is_recognized_whole_over_its_months(pg: asyncpg.Pool) -> None:
    await march(pg)
    recognized = D(0)
    closing = D(0)
    for month in range(12):
        year, m = 2026 + (month + 1) // 12, (month + 1) % 12 + 1  # February 2026 .. January 2027
        criteria = FinancialReportCriteria(
            report="revenue_recognition", period=Period(year=year, month=m), ledgers=["yearly"]
        )
        start, end = criteria.period.window(APRIL_1, "UTC")
        stored = await compute_report(pg, criteria, start, end)
        rows = await stored_lines(pg, stored.report_id)
        ((opening, billed, part, closing),) = lines_of(
            rows, "total", "opening_deferred", "billed", "recognized", "closing_deferred"
        ).values()
        assert opening + billed - part == closing
        recognized += part
    assert (recognized, closing) == (D("120.00"), D(0))


async def test_the_same_period_again_is_the_same_report(pg: asyncpg.Pool, redis: Redis) -> None:
    await march(pg)
    first = await run_job(pg, redis, SETTINGS, "financial_reporting", {}, APRIL_1)
    report = await the_report(pg)
    before = await stored_lines(pg, report["id"])
    again = await run_job(pg, redis, SETTINGS, "financial_reporting", {}, APRIL_1)
    assert (again.succeeded, again.failed) == (1, 0)
    same = await the_report(pg)
    assert (same["id"], same["revision"], same["run_id"]) == (report["id"], 1, again.run_id)
    assert await stored_lines(pg, report["id"]) == before
    assert first.run_id != again.run_id

    # a document booked late in March: the next run of the period changes the same report
    _, a = await customer(pg, 3)
    await issue(pg, a, date(2026, 3, 15), [Line("1.00", "voice")])
    await run_job(pg, redis, SETTINGS, "financial_reporting", {}, datetime(2026, 4, 2, tzinfo=UTC))
    changed = await the_report(pg)
    assert (changed["id"], changed["revision"]) == (report["id"], 2)
    rows = await stored_lines(pg, report["id"])
    assert lines_of(rows, "account", "credit")["revenue:voice"] == (D("11.00"),)
    assert await pg.fetchval("SELECT count(*) FROM financial_reports") == 1


async def test_reports_through_the_admin_api(admin: Admin, redis: Redis) -> None:
    await march(admin.pool)
    await run_job(admin.pool, redis, SETTINGS, "financial_reporting", {}, APRIL_1)
    criteria = {"report": "revenue_recognition", "period": {"length": "month"}}
    await run_job(admin.pool, redis, SETTINGS, "financial_reporting", criteria, APRIL_1)
    listed = (await admin.call("GET", "/v1/financial-reports", "auditor")).json()
    assert [r["kind"] for r in listed["items"]] == ["revenue_recognition", "journal"]
    only = await admin.call("GET", "/v1/financial-reports", params={"kind": "journal"})
    (journal,) = only.json()["items"]
    assert (journal["period_start"], journal["period_end"]) == ("2026-03-01", "2026-04-01")
    after = await admin.call("GET", "/v1/financial-reports", params={"period_from": "2026-04-01"})
    assert after.json()["items"] == []

    path = f"/v1/financial-reports/{journal['id']}"
    answer = (await admin.call("GET", path, "auditor", params={"dimension": "total"})).json()
    assert answer["lines"] == 7 + 7 + 6 + 4 + 3 + 1  # accounts, ledgers, groups, types, total
    (total,) = answer["items"]
    assert (total["debit"], total["credit"], total["net"]) == ("267.18", "267.18", "0.00")
    assert "opening_deferred" not in total

    exported = await admin.call("GET", path, params={"format": "csv"})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == answer["lines"]
    receivable = next(r for r in rows if r["account"] == "receivable")
    assert (receivable["debit"], receivable["credit"], receivable["net"]) == (
        "193.98", "73.20", "120.78"
    )  # fmt: skip
    assert (await admin.call("GET", "/v1/financial-reports/999999")).status_code == 404
    bad = await admin.call("GET", path, params={"dimension": "country"})
    assert bad.status_code == 422
    backwards = {"period_from": "2026-04-01", "period_to": "2026-03-01"}
    bad = await admin.call("GET", "/v1/financial-reports", params=backwards)
    assert bad.status_code == 422
