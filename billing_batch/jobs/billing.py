"""The `billing` job type: every bill due by the run's "process now" time whose customer matches
the job's criteria is billed (`billing_batch.billing.run_due_billing`, chunk by chunk, shared
with any other batch process). An item is one due bill (a profile's cycle): billed, or failed
with its invoice when the invoice could not be made (the invoice is recorded as failed, with
its reason, by tarif_billing).

A retry re-does the failed items: it makes the failed invoices again from today's data
(`tarif_billing.runs.regenerate_failed`), and bills the profiles named as failed items. Billing
is idempotent (a billed cycle is not due any more), so a resumed run bills only what is left."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from billing_batch.billing import run_due_billing
from billing_batch.jobs.context import JobContext
from tarif_billing.context import billing_context
from tarif_billing.issuing import Issued
from tarif_billing.runs import count_due, open_due, regenerate_failed
from tarif_catalog import Catalog
from tarif_jobs.criteria import Criteria
from tarif_jobs.runs import ItemRef, Items, RunRequest
from tarif_postgres import queries

B = queries.load("bills")
CAUSE = (
    "the invoice could not be made (seller, buyer or tax data missing or wrong); fix the data"
    " and retry the run"
)


async def run_once(ctx: JobContext, request: RunRequest, items: Items) -> None:
    criteria = Criteria.model_validate(dict(request.criteria))
    catalog = await ctx.catalog()
    at = request.process_now
    if request.only is None:
        await _bill(ctx, catalog, at, None, criteria, items)
        return
    profiles = [int(i) for i in request.only_ids("billing_profile") or []]
    if profiles:
        await _bill(ctx, catalog, at, profiles, None, items)
    invoices = [int(i) for i in request.only_ids("invoice") or []]
    if invoices:
        await _make_again(ctx, catalog, at, invoices, items)


async def _bill(
    ctx: JobContext,
    catalog: Catalog,
    at: datetime,
    profile_ids: Sequence[int] | None,
    criteria: Criteria | None,
    items: Items,
) -> None:
    pool, chunk = ctx.pool, ctx.settings.billing_chunk
    await open_due(pool, at, profile_ids, chunk)
    left = await count_due(pool, at, profile_ids, criteria)
    await items.add_total(left)

    async def on_chunk(rows: Sequence[Mapping[str, Any]], issued: list[Issued]) -> None:
        nonlocal left
        if len(rows) > left:  # a profile late by several cycles: its next cycle was due too
            await items.add_total(len(rows) - left)
            left = len(rows)
        left -= len(rows)
        failed = [i for i in issued if i.status == "failed"]
        for invoice in failed:
            error = invoice.error or "the invoice could not be made"
            await items.failed(ItemRef("invoice", str(invoice.invoice_id)), error, cause=CAUSE)
        await items.succeeded(len(rows) - len(failed))

    await run_due_billing(
        pool,
        ctx.settings,
        catalog,
        at,
        profile_ids=profile_ids,
        criteria=criteria,
        stop=ctx.stop,
        on_chunk=on_chunk,
    )


async def _make_again(
    ctx: JobContext, catalog: Catalog, at: datetime, invoice_ids: list[int], items: Items
) -> None:
    """The failed invoices made again, profile by profile; one made again meanwhile (or by a
    resumed run) counts as done."""
    wanted = set(invoice_ids)
    await items.add_total(len(wanted))
    issue, _ = billing_context(ctx.settings, catalog, at)
    profiles = [
        r["billing_profile_id"]
        for r in await ctx.pool.fetch(B.failed_invoice_profiles, invoice_ids)
    ]
    for profile in profiles:
        if ctx.stop():
            return
        async with ctx.pool.acquire() as conn, conn.transaction():
            remade = await regenerate_failed(conn, issue, profile_id=profile)
        for invoice in remade:
            if invoice.invoice_id not in wanted:
                continue
            wanted.discard(invoice.invoice_id)
            if invoice.status == "failed":
                error = invoice.error or "the invoice could not be made"
                await items.failed(ItemRef("invoice", str(invoice.invoice_id)), error, cause=CAUSE)
            else:
                await items.succeeded()
    await items.succeeded(len(wanted))
