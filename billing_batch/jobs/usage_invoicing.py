"""Job type `usage_invoicing`: products marked `invoice_on_usage` in the catalog are invoiced as
soon as usage is charged to them (the seed's Usage Triggered Invoicing).

For each postpaid billing profile the criteria select that holds such a product, as of the
run's "process now": its pending records (charged to a line of the product, not collected, not
on a cycle bill, before "process now") go on a new bill of kind `usage` that goes straight to
billing, like bill-now's; they become collected (`rated_events.collected_bill_id`), the
invoicing schedule gets one `calculated` line per purchase, and the bill's invoice is issued
(the line is then `invoiced`). One statement does the collecting (`collect_usage`), under the
profile's row lock, so a record is collected once and the cycle run, which skips collected
records, never bills it again. The rule in full: docs/jobs-invoicing.md.

Items: each usage invoice made (`("invoice", id)`; failed with its reason, made again by the
invoicing job or by a retry of this run); a chunk that fails as a whole fails its profiles
(`("billing_profile", id)`, redone by a retry). Prepaid profiles are left out: their usage was
paid from the balance when it was charged.
"""

from __future__ import annotations

from typing import Any

from billing_batch.jobs.context import JobContext
from billing_batch.jobs.invoicing import regenerate, report_issued
from tarif_billing.context import billing_context
from tarif_billing.issuing import BilledBill, IssueContext, issue_invoices
from tarif_billing.runs import BillingFacts
from tarif_catalog import Catalog
from tarif_common.errors import TarifError
from tarif_jobs.criteria import Criteria
from tarif_jobs.runs import ItemRef, Items, RunRequest
from tarif_postgres import queries

U = queries.load("usage_invoicing")

CAUSE = "the profile's usage could not be collected and invoiced"


def marked_products(catalog: Catalog) -> dict[str, str]:
    """The products invoiced on usage, with the service type of their lines."""
    return {
        name: product.service
        for name, product in catalog.products.items()
        if product.invoice_on_usage and product.service is not None
    }


async def run_once(ctx: JobContext, request: RunRequest, items: Items) -> None:
    criteria = Criteria.model_validate(dict(request.criteria))
    catalog = await ctx.catalog()
    issue_ctx, facts = billing_context(ctx.settings, catalog, request.process_now)
    retried = request.only_ids("invoice")
    if retried:  # a retry: the usage invoices that failed are made again
        await regenerate(ctx, items, criteria, issue_ctx, [int(i) for i in retried])
    profiles = request.only_ids("billing_profile")
    products = marked_products(catalog)
    if not products or profiles == []:
        return
    await collect(ctx, request, items, criteria, issue_ctx, facts, products, profiles)


async def collect(
    ctx: JobContext,
    request: RunRequest,
    items: Items,
    criteria: Criteria,
    issue_ctx: IssueContext,
    facts: BillingFacts,
    products: dict[str, str],
    profiles: list[str] | None,
) -> None:
    """Chunks of profiles, each collected and invoiced in one transaction."""
    condition, values = criteria.where("c", first=5)
    sql = queries.compose(U.usage_profiles, criteria=condition)
    names, services = list(products), list(products.values())
    only = None if profiles is None else [int(p) for p in profiles]
    chunk = ctx.settings.billing_chunk
    after = 0
    while not ctx.stop():
        locked: list[Any] = []
        try:
            async with ctx.pool.acquire() as conn, conn.transaction():
                locked = await conn.fetch(sql, names, only, after, chunk, *values)
                if not locked:
                    break
                rows = await conn.fetch(
                    U.collect_usage,
                    [r["id"] for r in locked],
                    [facts.decimals(r["currency"]) for r in locked],
                    names,
                    services,
                    request.process_now,
                    request.run_id,
                )
                made = await issue_invoices(conn, [_bill(r) for r in rows], issue_ctx)
                await conn.execute(U.link_schedule_invoices, [m.bill_id for m in made])
        except TarifError as exc:
            if not locked:
                raise
            await items.add_total(len(locked))
            for r in locked:  # rolled back: nothing of these profiles was collected
                await items.failed(ItemRef("billing_profile", str(r["id"])), exc, cause=CAUSE)
            after = locked[-1]["id"]
            continue
        after = locked[-1]["id"]
        await items.add_total(len(made))
        await report_issued(items, made)


def _bill(row: Any) -> BilledBill:
    return BilledBill(
        row["bill_id"],
        row["billing_profile_id"],
        row["customer_id"],
        row["currency"],
        row["period_start"],
        row["period_end"],
        row["time_zone"],
        row["tax"],
        row["payment_terms_days"],
        row["credit_balance"],
    )
