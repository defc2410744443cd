"""What the invoicing job tests share: customers with issued (and failed) invoices, a job run
with its real item log, the settings of a deployment that e-mails invoices, and the PDF of a
received message."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from typing import Any

import asyncpg
from pypdf import PdfReader

from billing_batch.jobs.context import JobContext
from billing_batch.jobs.registry import run_once_of
from tarif_billing.runs import run_billing
from tarif_common.embedded import free_port
from tarif_common.settings import Settings
from tarif_jobs.items import RunItems
from tarif_jobs.runs import ItemRef, RunRequest
from tests.integration.admin_harness import Admin
from tests.integration.billing_harness import (
    FACTS,
    SELLER,
    context,
    postpaid_customer,
    profile_of,
    store_usage,
)

# The cycle of a monthly/day-1 profile in Europe/Ljubljana holding the test clock's 2026-11-29
# ends at local midnight of 1 December; the invoices are issued then.
DEC = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def settings(smtp_port: int | None, **changes: Any) -> Settings:
    """A deployment that issues and e-mails invoices (the seller set, no default tax: a profile
    without a tax fails its invoice); `smtp_port` None: a port nobody listens on."""
    seller = {
        "seller_name": SELLER.name,
        "seller_address": SELLER.address,
        "seller_city": SELLER.city,
        "seller_postcode": SELLER.postcode,
        "seller_country": SELLER.country,
        "seller_vat_id": SELLER.vat_id,
    }
    values: dict[str, Any] = {
        "redis_url": "redis://unused",
        "database_url": "postgresql://unused",
        "environment": "test",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port if smtp_port is not None else free_port(),
        "mail_from": "Billing <billing@seller.example>",
        "notify_timeout": 3.0,
        "payment_terms_days": 15,
        **seller,
    }
    return Settings(**(values | changes))


@dataclass
class Invoiced:
    customer: dict[str, Any]
    profile: int
    invoice_id: int
    number: str | None


async def invoiced_customers(
    admin: Admin, *msisdns: str, failing: tuple[str, ...] = ()
) -> dict[str, Invoiced]:
    """Postpaid customers with usage in November, billed at DEC: the profiles of `failing` have
    no tax (their invoice fails), the others VAT22."""
    made = {}
    for msisdn in msisdns:
        customer = await postpaid_customer(admin, msisdn, plan="basic")
        profile = await profile_of(admin.pool, customer["id"])
        if msisdn not in failing:
            await admin.pool.execute(
                "UPDATE billing_profiles SET tax = 'VAT22' WHERE id = $1", profile
            )
        await store_usage(
            admin.pool,
            customer["account_id"],
            (f"e:{msisdn}", "voice", datetime(2026, 11, 20, 9, tzinfo=UTC), "10.00"),
        )
        made[msisdn] = (customer, profile)
    report = await run_billing(admin.pool, context(DEC, default_tax=None), FACTS)
    by_bill = {i.bill_id: i for i in report.invoices}
    out = {}
    for msisdn, (customer, profile) in made.items():
        bill = await admin.pool.fetchval(
            "SELECT id FROM bills WHERE billing_profile_id = $1"
            " AND status IN ('billing', 'closed')",
            profile,
        )
        issued = by_bill[bill]
        assert (issued.status == "failed") == (msisdn in failing), issued
        out[msisdn] = Invoiced(customer, profile, issued.invoice_id, issued.number)
    return out


@dataclass
class Ran:
    run_id: int
    counts: tuple[int, int, int]  # total, succeeded, failed
    failed_items: list[dict[str, Any]]


async def run_job(
    pool: asyncpg.Pool,
    job_type: str,
    job_settings: Settings,
    redis: Any,
    *,
    at: datetime = LATER,
    criteria: dict[str, Any] | None = None,
    only: set[ItemRef] | None = None,
) -> Ran:
    """One run of the job type as the worker runs it: a job_runs row, the real item log."""
    run_id = await pool.fetchval(
        "INSERT INTO job_runs (job_type, job_name, trigger, process_now, status, started_at)"
        " VALUES ($1, 'test', 'manual', $2, 'running', now()) RETURNING id",
        job_type,
        at,
    )
    items = RunItems(pool, run_id, job_type)
    request = RunRequest(
        at, criteria or {}, frozenset(only) if only is not None else None, run_id=run_id
    )
    ctx = JobContext(pool, redis, job_settings)
    await run_once_of(job_type)(ctx, request, items)
    await items.flush()
    row = await pool.fetchrow("SELECT total, succeeded, failed FROM job_runs WHERE id = $1", run_id)
    failed = await pool.fetch(
        "SELECT object_type, object_id, error, cause FROM job_run_items WHERE run_id = $1"
        " ORDER BY object_id",
        run_id,
    )
    return Ran(run_id, (row["total"], row["succeeded"], row["failed"]), [dict(r) for r in failed])


def pdf_of(message: Message) -> tuple[str, bytes]:
    """The one PDF attached to a received message: its file name and bytes."""
    found = [
        (part.get_filename(), part.get_payload(decode=True))
        for part in message.walk()
        if part.get_content_type() == "application/pdf"
    ]
    assert len(found) == 1, [p.get_content_type() for p in message.walk()]
    name, content = found[0]
    assert isinstance(name, str)
    assert isinstance(content, bytes)
    return name, content


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def pdf_attachments(content: bytes) -> list[str]:
    """Files embedded in the PDF (Factur-X: factur-x.xml)."""
    return sorted(PdfReader(io.BytesIO(content)).attachments)


def body_of(message: Message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    text = part.get_payload(decode=True)
    assert isinstance(text, bytes)
    return text.decode(part.get_content_charset() or "utf-8")
