"""Job type `account_deletion`: closed accounts whose retention passed by the run's "process
now" are deleted (`tarif_billing.retention`), each in its own transaction; their engine
accounts are removed from Redis right after (through the outbox)."""

from __future__ import annotations

from datetime import datetime

from billing_batch.jobs.context import JobContext
from billing_batch.jobs.engine_side import EngineSide
from billing_batch.jobs.selecting import each_due
from tarif_billing import retention
from tarif_jobs.runs import ItemRef, Items, RunRequest

OBJECT = "customer"


async def run_once(ctx: JobContext, request: RunRequest, items: Items) -> None:
    at = request.process_now
    engine = await EngineSide.of(ctx)
    await each_due(
        ctx,
        request,
        items,
        OBJECT,
        retention.due_customers,
        lambda ref: _one(ctx, engine, items, ref, at),
    )


async def _one(
    ctx: JobContext, engine: EngineSide, items: Items, ref: ItemRef, at: datetime
) -> None:
    try:
        async with ctx.pool.acquire() as conn:
            deleted = await retention.delete_customer(conn, int(ref.object_id), at)
        if deleted is not None:
            await engine.push(deleted.accounts, deleted.groups)
    except Exception as exc:  # recorded with the object; the run goes on with the next one
        await items.failed(ref, exc, cause="the account could not be deleted")
        return
    await items.succeeded()
