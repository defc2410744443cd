"""Job type `deferred_activation`: purchases bought with a future start whose start came by the
run's "process now" are activated (`tarif_billing.activation`), each in its own transaction: a
postpaid (or free) one at once, a prepaid one once the engine took its price from the balance
(its adjustment step, once). One the balance cannot pay stays `refused`: a failed item."""

from __future__ import annotations

from datetime import datetime

from billing_batch.jobs.context import JobContext
from billing_batch.jobs.engine_side import EngineSide
from billing_batch.jobs.selecting import each_due
from tarif_billing import activation, purchasing
from tarif_jobs.runs import ItemRef, Items, RunRequest

OBJECT = "purchase"


async def run_once(ctx: JobContext, request: RunRequest, items: Items) -> None:
    at = request.process_now
    engine = await EngineSide.of(ctx)
    await each_due(
        ctx,
        request,
        items,
        OBJECT,
        activation.purchases_to_activate,
        lambda ref: _one(ctx, engine, items, ref, at),
    )


async def _one(
    ctx: JobContext, engine: EngineSide, items: Items, ref: ItemRef, at: datetime
) -> None:
    try:
        async with ctx.pool.acquire() as conn:
            done = await activation.activate(conn, int(ref.object_id), at)
        status: str = done.outcome
        if done.outcome == "pay" and done.adjustment_id is not None:
            status = await purchasing.settle(ctx.pool, engine.store, done.adjustment_id, at)
        await engine.push([done.account_id])
    except Exception as exc:  # recorded with the object; the run goes on with the next one
        await items.failed(ref, exc, cause="the purchase could not be activated")
        return
    if status == "refused":
        why = done.message or "the engine refused its payment"
        await items.failed(
            ref,
            f"purchase {ref.object_id} was refused: {why}",
            cause="insufficient balance: the prepaid purchase could not be paid at its start",
        )
    elif status == "pending":
        await items.failed(
            ref,
            f"the payment of purchase {ref.object_id} waits for the engine",
            cause="the engine does not have the account yet; the next run finishes it",
        )
    else:
        await items.succeeded()
