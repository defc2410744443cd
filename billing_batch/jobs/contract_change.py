"""Job type `contract_change`: contract change requests due by the run's "process now" are
applied in the order of their effective times (`tarif_billing.contract_changes`), each in its
own transaction and as of its own effective time. What a change moves in the engine (a grant,
a prepaid product's payment) goes through the engine's adjustment step. One that cannot be
applied is `failed` with its reason and a failed item of the run."""

from __future__ import annotations

from datetime import UTC, datetime

from billing_batch.jobs.context import JobContext
from billing_batch.jobs.engine_side import EngineSide
from billing_batch.jobs.selecting import CHUNK, only, where
from tarif_billing import adjustments, contract_changes, purchasing
from tarif_jobs.runs import ItemRef, Items, RunRequest

OBJECT = "contract_change"
_FIRST = (datetime(1, 1, 1, tzinfo=UTC), 0)


async def run_once(ctx: JobContext, request: RunRequest, items: Items) -> None:
    at = request.process_now
    engine = await EngineSide.of(ctx)
    selected, retried = where(request, first=6), only(request, OBJECT)
    after = _FIRST
    while not ctx.stop():
        async with ctx.pool.acquire() as conn:
            due = await contract_changes.due_changes(conn, at, selected, after, CHUNK, retried)
        if not due:
            return
        await items.add_total(len(due))
        for key in due:
            if ctx.stop():
                return
            after = key
            await _one(ctx, engine, items, ItemRef(OBJECT, str(key[1])), at)


async def _one(
    ctx: JobContext, engine: EngineSide, items: Items, ref: ItemRef, at: datetime
) -> None:
    refused = ""
    try:
        async with ctx.pool.acquire() as conn:
            changed = await contract_changes.apply_change(conn, int(ref.object_id), at)
        if changed is None:  # another worker has it, or it is no longer scheduled
            await items.succeeded()
            return
        if changed.adjustment_id is not None and changed.new_purchase_id is not None:
            paid = await purchasing.settle(ctx.pool, engine.store, changed.adjustment_id, at)
            if paid == "refused":
                refused = f"the engine refused the payment of purchase {changed.new_purchase_id}"
        elif changed.adjustment_id is not None:
            moved = await adjustments.apply(ctx.pool, engine.store, changed.adjustment_id, at)
            if moved["status"] == "refused":
                refused = f"the engine refused moving the grant: {moved['result']}"
        await engine.push([changed.account_id])
    except Exception as exc:  # recorded with the object; the run goes on with the next one
        await items.failed(ref, exc, cause="the change could not be applied")
        return
    if changed.status == "failed":
        await items.failed(ref, changed.reason, cause=f"cannot be applied: {changed.reason}")
    elif changed.status == "scheduled":
        await items.failed(ref, changed.reason, cause="waits for an earlier change; retried")
    elif refused:
        await items.failed(ref, refused, cause="the change is made; the engine refused its part")
    else:
        await items.succeeded()
