"""The `collections` job type: the reminder automations due by "process now" (or the ones a
Start names) run their create, issue and send actions (`tarif_billing.reminders.runner`,
docs/collections.md). Fee invoices take the billing context of the settings and the newest
catalog; e-mails go through the settings' SMTP server."""

from __future__ import annotations

from billing_batch.jobs.context import JobContext
from tarif_billing.context import billing_context
from tarif_billing.reminders.runner import run_collections
from tarif_billing.reminders.scope import Env
from tarif_jobs.mail import Mailer
from tarif_jobs.runs import Items, RunRequest


async def run_once(ctx: JobContext, request: RunRequest, items: Items) -> None:
    issue, _ = billing_context(ctx.settings, await ctx.catalog(), request.process_now)
    env = Env(
        pool=ctx.pool,
        issue=issue,
        mailer=Mailer.from_settings(ctx.settings),
        default_terms=ctx.settings.default_reminder_terms,
        process_now=request.process_now,
        run_id=request.run_id,
        chunk=min(ctx.settings.billing_chunk, 500),
        stop=ctx.stop,
    )
    await run_collections(env, request, items)
