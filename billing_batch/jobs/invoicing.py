"""Job type `invoicing`: for the customers the criteria select, as of the run's "process now",

1. failed invoices are made again (`tarif_billing.runs.failed_bill` + `issue_invoices`, the
   library's regeneration): those whose data was fixed get their number, the others fail again
   with the new reason; each is an item `("invoice", id)`, its full error kept on failure;
2. every issued invoice and credit note whose e-mail is not sent yet is e-mailed with its PDF
   (`tarif_billing.emails`, the function the admin API uses too), once per invoice whoever sends
   it; a failed e-mail is `failed` in the e-mail log with an activity-log entry and an alert, and
   its item `("invoice", id)` fails. The next run (or a retry of this one, or a resend) sends it.

Each chunk is its own short transaction (regeneration) or has none (e-mails); nothing holds a
transaction across the run. A retry restricts both steps to the invoices it names.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from billing_batch.jobs.context import JobContext
from tarif_billing.context import billing_context
from tarif_billing.emails import InvoiceMails, invoice_ref, send_invoice
from tarif_billing.issuing import IssueContext, Issued, issue_invoices
from tarif_billing.runs import failed_bill
from tarif_common.errors import TarifError
from tarif_jobs.criteria import Criteria
from tarif_jobs.mail import Mailer, MailFailed
from tarif_jobs.runs import Items, RunRequest
from tarif_postgres import queries

log = logging.getLogger(__name__)
J = queries.load("invoicing_jobs")
U = queries.load("usage_invoicing")

MAIL_CHUNK = 100  # invoices read per query
MAIL_PARALLEL = 4  # messages on their way at once (each takes a connection while it is built)

INVOICE_CAUSE = "the invoice's data is incomplete (seller, tax, buyer): fix it, then retry"
MAIL_CAUSE = "the SMTP server refused the message or could not be reached"


async def run_once(ctx: JobContext, request: RunRequest, items: Items) -> None:
    criteria = Criteria.model_validate(dict(request.criteria))
    issue_ctx, _ = billing_context(ctx.settings, await ctx.catalog(), request.process_now)
    only = _ids(request.only_ids("invoice"))
    await regenerate(ctx, items, criteria, issue_ctx, only)
    await email_invoices(ctx, request, items, criteria, only)


def _ids(values: Sequence[str] | None) -> list[int] | None:
    return None if values is None else [int(v) for v in values]


async def regenerate(
    ctx: JobContext,
    items: Items,
    criteria: Criteria,
    issue_ctx: IssueContext,
    only: list[int] | None,
) -> None:
    """Make the failed invoices of the selected customers again, a chunk per transaction."""
    condition, values = criteria.where("c", first=4)
    sql = queries.compose(J.failed_invoices_of_customers, criteria=condition)
    chunk = ctx.settings.billing_chunk
    after = 0
    while not ctx.stop():
        rows: list[Any] = []
        try:
            async with ctx.pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(sql, only, after, chunk, *values)
                if not rows:
                    break
                made = await issue_invoices(conn, [failed_bill(r) for r in rows], issue_ctx)
                await conn.execute(U.link_schedule_invoices, [m.bill_id for m in made])
        except TarifError as exc:
            if not rows:
                raise
            await items.add_total(len(rows))
            for r in rows:  # the chunk rolled back: each of its invoices is still failed
                await items.failed(invoice_ref(r["invoice_id"]), exc, cause=INVOICE_CAUSE)
            after = rows[-1]["invoice_id"]
            continue
        after = rows[-1]["invoice_id"]
        await items.add_total(len(made))
        await report_issued(items, made)


async def report_issued(items: Items, made: Sequence[Issued]) -> None:
    """Each invoice made: succeeded if issued, failed (with its reason) if not."""
    for issued in made:
        if issued.status == "failed":
            error = f"invoice {issued.invoice_id} cannot be issued: {issued.error}"
            await items.failed(invoice_ref(issued.invoice_id), error, cause=INVOICE_CAUSE)
        else:
            await items.succeeded()


async def email_invoices(
    ctx: JobContext,
    request: RunRequest,
    items: Items,
    criteria: Criteria,
    only: list[int] | None,
) -> None:
    """E-mail each issued invoice of the selected customers not e-mailed yet."""
    mailer = Mailer.from_settings(ctx.settings)
    mails = await InvoiceMails.load(ctx.pool, ctx.settings)
    condition, values = criteria.where("c", first=5)
    sql = queries.compose(J.invoices_to_email, criteria=condition)
    gate = asyncio.Semaphore(MAIL_PARALLEL)

    async def send(invoice_id: int) -> BaseException | None:
        async with gate:
            try:
                outcome = await send_invoice(
                    ctx.pool, mailer, mails, invoice_id, run_id=request.run_id
                )
            except Exception as exc:  # one invoice's failure (SMTP, data, a bug) stops no other
                return exc
        if outcome == "in_flight":
            log.info("invoice_mail.in_flight", extra={"invoice_id": invoice_id})
        return None

    after = 0
    while not ctx.stop():
        rows = await ctx.pool.fetch(sql, request.process_now, only, after, MAIL_CHUNK, *values)
        if not rows:
            break
        after = rows[-1]["id"]
        ids = [int(r["id"]) for r in rows]
        await items.add_total(len(ids))
        # sent side by side; reported one after the other (Items is not shared between tasks)
        outcomes = await asyncio.gather(*(send(i) for i in ids))
        for invoice_id, error in zip(ids, outcomes, strict=True):
            if error is None:
                await items.succeeded()
            else:
                cause = MAIL_CAUSE if isinstance(error, MailFailed) else str(error)
                await items.failed(invoice_ref(invoice_id), error, cause=cause)
