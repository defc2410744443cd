"""Job type `account_deletion`: closed accounts whose retention passed by the run's "process
now" are deleted (`tarif_billing.retention`), each in its own transaction; their engine
accounts are removed from Redis right after (through the outbox)."""

from __future__ import annotations

from datetime import datetime

from billing_batch.jobs.context import JobContext
from billing_batch.jobs.engine_side import EngineSide
from billing_batch.jobs.selecting import CHUNK, only, where
from tarif_billing import retention
from tarif_jobs.runs import ItemRef, Items, RunRequest

OBJECT = "customer"


async def run_once(ctx: JobContext, request: RunRequest, items: Items) -> None:
    at = request.process_now
    engine = await EngineSide.of(ctx)
    selected, retried = where(request), only(request, OBJECT)
    after = 0
    while not ctx.stop():
        async with ctx.pool.acquire() as conn:
            ids = await retention.due_customers(conn, at, selected, after, CHUNK, retried)
        if not ids:
            return
        await items.add_total(len(ids))
        for customer_id in ids:
            if ctx.stop():
                return
            after = customer_id
            await _one(ctx, engine, items, customer_id, at)


async def _one(
    ctx: JobContext, engine: EngineSide, items: Items, customer_id: int, at: datetime
) -> None:
    try:
        async with ctx.pool.acquire() as conn:
            deleted = await retention.delete_customer(conn, customer_id, at)
        if deleted is not None:
            await engine.push(deleted.accounts, deleted.groups)
    except Exception as exc:  # recorded with the object; the run goes on with the next one
        await items.failed(
            ItemRef(OBJECT, str(customer_id)), exc, cause="the account could not be deleted"
        )
        return
    await items.succeeded()
