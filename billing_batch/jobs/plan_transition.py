"""Job type `plan_transition`: scheduled plan transitions due by the run's "process now" are
applied (`tarif_billing.plans`), each in its own transaction and as of its own effective time;
a prepaid subscription's new bundles are paid through the engine's adjustment step. One that
cannot be applied is `failed` with its reason and a failed item of the run."""

from __future__ import annotations

from datetime import datetime

from billing_batch.jobs.context import JobContext
from billing_batch.jobs.engine_side import EngineSide
from billing_batch.jobs.selecting import each_due
from tarif_billing import plans, purchasing
from tarif_jobs.runs import ItemRef, Items, RunRequest

OBJECT = "plan_transition"


async def run_once(ctx: JobContext, request: RunRequest, items: Items) -> None:
    at = request.process_now
    engine = await EngineSide.of(ctx)
    await each_due(
        ctx,
        request,
        items,
        OBJECT,
        plans.due_transitions,
        lambda ref: _one(ctx, engine, items, ref, at),
    )


async def _one(
    ctx: JobContext, engine: EngineSide, items: Items, ref: ItemRef, at: datetime
) -> None:
    try:
        async with ctx.pool.acquire() as conn:
            applied = await plans.apply_transition(conn, int(ref.object_id), at)
        if applied is None:  # another worker has it, or it is no longer scheduled
            await items.succeeded()
            return
        paid = "active"
        if applied.payment is not None:
            paid = await purchasing.settle(ctx.pool, engine.store, applied.payment, at)
        await engine.push([applied.account_id])
    except Exception as exc:  # recorded with the object; the run goes on with the next one
        await items.failed(ref, exc, cause="the transition could not be applied")
        return
    if applied.status == "failed":
        await items.failed(ref, applied.reason, cause=f"cannot be applied: {applied.reason}")
    elif applied.status == "scheduled":
        await items.failed(
            ref, applied.reason, cause="a payment of the subscription is in progress; retried"
        )
    elif paid == "refused":
        await items.failed(
            ref,
            f"the plan changed; the engine refused the payment {applied.payment} of its bundles",
            cause="insufficient balance: the new plan's products are kept as refused",
        )
    else:
        await items.succeeded()
