"""What the reporting, export and re-send tests share: customers and issued documents written as
the billing library writes them (their journal through `tarif_billing.postings`), runs of a job
type as the worker makes them (a `job_runs` row, the Postgres item log), and its outcome."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
from redis.asyncio import Redis

from billing_batch.jobs.context import JobContext
from billing_batch.jobs.registry import run_once_of
from tarif_billing import journal
from tarif_billing.invoicing import DraftLine
from tarif_billing.money import TaxSubtotal
from tarif_billing.postings import Posting, post
from tarif_common.settings import Settings
from tarif_jobs.items import RunItems
from tarif_jobs.runs import ItemRef, RunRequest

_numbers = itertools.count(1)


@dataclass(frozen=True)
class Line:
    net: str
    ledger: str | None = None
    start: date | None = None
    end: date | None = None  # inclusive
    kind: str = "recurring"


async def seed(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO customer_types (name) VALUES ('residential'), ('business')"
            " ON CONFLICT DO NOTHING"
        )
        await conn.execute(
            "INSERT INTO taxes (name, rate, category) VALUES ('VAT22', 22, 'S')"
            " ON CONFLICT DO NOTHING"
        )


async def customer(
    pool: asyncpg.Pool,
    n: int,
    *,
    customer_type: str = "residential",
    attributes: Mapping[str, Any] | None = None,
    time_zone: str = "UTC",
) -> tuple[int, int]:
    """A customer with a postpaid EUR profile and a balance group `acc-<n>`: (customer, profile)."""
    async with pool.acquire() as conn, conn.transaction():
        customer_id: int = await conn.fetchval(
            "INSERT INTO customers (account_id, customer_type, first_name, last_name, email,"
            " phone, address, city, state, country, payment_method, custom_attributes)"
            " VALUES ($1, $2, 'Ana', $3, $4, '+38640000000', 'Street 1', 'Ljubljana', 'SI',"
            " 'SI', 'invoice', $5) RETURNING id",
            f"acc-{n}",
            customer_type,
            f"Customer{n}",
            f"c{n}@example.com",
            dict(attributes or {}),
        )
        profile_id: int = await conn.fetchval(
            "INSERT INTO billing_profiles (customer_id, payment_type, currency,"
            " billing_interval, billing_day, time_zone) VALUES ($1, 'postpaid', 'EUR',"
            " 'monthly', 1, $2) RETURNING id",
            customer_id,
            time_zone,
        )
        await conn.execute(
            "INSERT INTO balance_groups (customer_id, account_id, name, billing_profile_id)"
            " VALUES ($1, $2, 'main', $3)",
            customer_id,
            f"acc-{n}",
            profile_id,
        )
    return customer_id, profile_id


async def issue(
    pool: asyncpg.Pool,
    profile_id: int,
    issue_date: date,
    lines: Sequence[Line],
    *,
    corrects: int | None = None,
    rate: Decimal = Decimal(22),
) -> int:
    """An issued invoice (or, with `corrects`, a credit note) of `lines` taxed at `rate` %, its
    journal posted by the billing library's own code; its id."""
    kind = "invoice" if corrects is None else "credit_note"
    drafts = [
        DraftLine(n, x.kind, f"line {n}", Decimal(x.net), "VAT22", "S", rate, x.ledger, None,
                  x.start, x.end)
        for n, x in enumerate(lines, start=1)
    ]  # fmt: skip
    net = sum((d.net for d in drafts), Decimal(0))
    tax = (net * rate / 100).quantize(Decimal("0.01"))
    seq = next(_numbers)
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT customer_id FROM billing_profiles WHERE id = $1", profile_id
        )
        await conn.execute("INSERT INTO invoice_series (name) VALUES ('T') ON CONFLICT DO NOTHING")
        bill_id = await conn.fetchval(
            "INSERT INTO bills (billing_profile_id, customer_id, status, kind, currency,"
            " period_start, period_end) VALUES ($1, $2, 'billing', 'now', 'EUR',"
            " '2026-01-01', '2026-02-01') RETURNING id",
            profile_id,
            row["customer_id"],
        )
        invoice_id: int = await conn.fetchval(
            "INSERT INTO invoices (kind, bill_id, billing_profile_id, customer_id, corrects_id,"
            " series, seq, number, status, currency, issue_date, due_date, net_total,"
            " tax_total, total) VALUES ($1, $2, $3, $4, $5, 'T', $6, $7, 'billing', 'EUR',"
            " $8::date, $8::date + 15, $9, $10, $11) RETURNING id",
            kind,
            bill_id,
            profile_id,
            row["customer_id"],
            corrects,
            seq,
            f"T-{seq:06d}",
            issue_date,
            net,
            tax,
            net + tax,
        )
        await conn.executemany(
            "INSERT INTO invoice_lines (invoice_id, number, kind, description, quantity,"
            " unit_price, net, tax, tax_category, tax_rate, ledger, period_start, period_end)"
            " VALUES ($1, $2, $3, $4, 1, $5, $5, 'VAT22', 'S', $6, $7, $8, $9)",
            [
                (invoice_id, d.number, d.kind, d.description, d.net, rate, d.ledger,
                 d.period_start, d.period_end)
                for d in drafts
            ],
        )  # fmt: skip
        await conn.execute("UPDATE invoices SET issued_at = now() WHERE id = $1", invoice_id)
        subtotal = TaxSubtotal("S", rate, net, tax)
        legs = journal.invoice_legs(
            profile_id, drafts, [("VAT22", subtotal)], sign=1 if corrects is None else -1
        )
        await post(conn, [Posting(kind, invoice_id, None, "EUR", legs)])
    return invoice_id


@dataclass
class Outcome:
    run_id: int
    total: int
    succeeded: int
    failed: int
    failed_items: list[tuple[str, str, str]]  # object type, object id, error


async def new_run(
    pool: asyncpg.Pool,
    job_type: str,
    criteria: Mapping[str, Any],
    process_now: datetime,
    *,
    retry_of: int | None = None,
) -> int:
    run_id: int = await pool.fetchval(
        "INSERT INTO job_runs (job_type, job_name, trigger, process_now, criteria, retry_of,"
        " status, started_at) VALUES ($1, $2, $3, $4, $5, $6, 'running', now()) RETURNING id",
        job_type,
        f"test {job_type}",
        "retry" if retry_of else "manual",
        process_now,
        dict(criteria),
        retry_of,
    )
    return run_id


async def run_job(
    pool: asyncpg.Pool,
    redis: Redis,
    settings: Settings,
    job_type: str,
    criteria: Mapping[str, Any],
    process_now: datetime,
    *,
    retry_of: int | None = None,
) -> Outcome:
    """One run of `job_type` as a worker runs it (a retry does only the failed items of
    `retry_of`); its counts and failed items as stored."""
    only = None
    if retry_of is not None:
        rows = await pool.fetch(
            "SELECT object_type, object_id FROM job_run_items WHERE run_id = $1", retry_of
        )
        only = frozenset(ItemRef(r["object_type"], r["object_id"]) for r in rows)
    run_id = await new_run(pool, job_type, criteria, process_now, retry_of=retry_of)
    items = RunItems(pool, run_id, job_type)
    ctx = JobContext(pool, redis, settings)
    request = RunRequest(process_now, criteria, only, run_id)
    await run_once_of(job_type)(ctx, request, items)
    await items.flush()
    row = await pool.fetchrow("SELECT total, succeeded, failed FROM job_runs WHERE id = $1", run_id)
    failed = await pool.fetch(
        "SELECT object_type, object_id, error FROM job_run_items WHERE run_id = $1"
        " ORDER BY object_id",
        run_id,
    )
    return Outcome(
        run_id,
        row["total"],
        row["succeeded"],
        row["failed"],
        [(r["object_type"], r["object_id"], r["error"]) for r in failed],
    )
