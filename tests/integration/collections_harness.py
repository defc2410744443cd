"""What the collections tests share: postpaid customers with an invoice issued on 1 December
2026 and due on the 16th, the settings of a deployment with a seller and an SMTP server, a
collections run as a worker runs it (a `job_runs` row, its item log), and the messages an SMTP
sink received, read back with their attachments."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from io import BytesIO
from typing import Any

from pypdf import PdfReader

from billing_batch.jobs.collections import run_once
from billing_batch.jobs.context import JobContext
from tarif_billing.runs import run_billing
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
from tests.servers import SmtpSink

# the run that bills November: 1 December 00:00 in Ljubljana (the catalog's time zone), so the
# invoices are dated 1 December and due on the 16th (15 days of payment terms)
NOVEMBER_RUN = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)

TABLES = (
    "reminder_terms",
    "reminder_levels",
    "reminder_level_texts",
    "reminder_automations",
    "reminder_automation_terms",
    "reminder_actions",
    "reminders",
    "reminder_lines",
    "reminder_holds",
    "reminder_runs",
    "job_runs",
    "audit_log",
)


@dataclass
class Billed:
    customer_id: int
    account_id: str
    profile_id: int
    email: str


async def customers_with_invoices(admin: Admin, *msisdns: str) -> list[Billed]:
    """A postpaid customer per MSISDN with 10.00 EUR of November usage, billed: each gets an
    invoice of 12.20 EUR (22 % VAT), numbered in the order given, due 16 December."""
    made = []
    for msisdn in msisdns:
        customer = await postpaid_customer(admin, msisdn, plan="basic")
        profile = await profile_of(admin.pool, customer["id"])
        await store_usage(
            admin.pool,
            customer["account_id"],
            (f"e:{msisdn}", "voice", datetime(2026, 11, 20, tzinfo=UTC), "10.00"),
        )
        email = f"billing.{msisdn}@example.com"  # its billing contact: where reminders go
        async with admin.pool.acquire() as conn:
            await conn.execute(
                "UPDATE account_contacts SET email = $1 WHERE account_id = $2 AND tag = 'billing'",
                email,
                customer["account_id"],
            )
        made.append(Billed(customer["id"], customer["account_id"], profile, email))
    report = await run_billing(admin.pool, context(NOVEMBER_RUN), FACTS)
    assert [i.status for i in report.invoices] == ["billing"] * len(msisdns)
    return made


def deployment(smtp: SmtpSink | None, **changes: Any) -> Settings:
    """A test deployment: the benchmark's seller, VAT22 by default, the sink as SMTP server."""
    values: dict[str, Any] = {
        "redis_url": "redis://unused",
        "database_url": "postgresql://unused",
        "environment": "test",
        "seller_name": SELLER.name,
        "seller_address": SELLER.address,
        "seller_city": SELLER.city,
        "seller_postcode": SELLER.postcode,
        "seller_country": SELLER.country,
        "seller_vat_id": SELLER.vat_id,
        "default_tax": "VAT22",
        "smtp_host": "127.0.0.1" if smtp else None,
        "smtp_port": smtp.port if smtp else 25,
        "mail_from": "Tarif Telecom <billing@tarif.example>",
    }
    values.update(changes)
    return Settings(**values)


async def collections_run(
    admin: Admin,
    settings: Settings,
    at: datetime,
    criteria: dict[str, Any] | None = None,
    *,
    run_id: int | None = None,
    retry_of: int | None = None,
    only: frozenset[ItemRef] | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """One run of the `collections` job as a worker runs it; returns the job run's id. With
    `stop`, the worker is stopping (SIGTERM) when it says so."""
    async with admin.pool.acquire() as conn:
        if run_id is None:
            run_id = await conn.fetchval(
                "INSERT INTO job_runs (job_type, job_name, trigger, process_now, criteria,"
                " retry_of) VALUES ('collections', 'collections', $1, $2, $3, $4) RETURNING id",
                "retry" if retry_of else "schedule",
                at,
                criteria or {},
                retry_of,
            )
        else:
            row = await conn.fetchrow(
                "SELECT process_now, criteria FROM job_runs WHERE id = $1", run_id
            )
            at, criteria = row["process_now"], row["criteria"]
    items = RunItems(admin.pool, run_id, "job.collections")
    job = JobContext(admin.pool, admin.engine.redis, settings, stop)
    await run_once(job, RunRequest(at, criteria or {}, only, run_id), items)
    await items.flush()
    return run_id


async def counts(admin: Admin) -> dict[str, int]:
    return {t: await admin.count(t) for t in TABLES}


@dataclass
class Received:
    to: str
    subject: str
    text: str
    attachments: dict[str, str]  # file name -> the PDF's text


def received(sink: SmtpSink) -> list[Received]:
    return [_read(m) for m in sink.messages]


def _read(raw: Message) -> Received:
    message = message_from_bytes(raw.as_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    attachments = {}
    for part in message.iter_attachments():
        assert part.get_content_type() == "application/pdf"
        content = part.get_content()
        assert content.startswith(b"%PDF")
        reader = PdfReader(BytesIO(content))
        attachments[part.get_filename() or ""] = "\n".join(
            page.extract_text() for page in reader.pages
        )
    return Received(str(message["To"]), str(message["Subject"]), body.get_content(), attachments)
