"""Job type `purchase_check`: recurring products whose cycle ended by the run's "process now"
are renewed, products whose end has come are cancelled (`tarif_billing.renewals`, its rules).

Each purchase is looked at in its own transaction. A prepaid renewal's payment is applied by
the engine's adjustment step after that commit (once per attempt id), then the renewal is
concluded: granted again, or unpaid. An unpaid renewal is a failed item of the run (with the
activity-log entry and alert the item log raises), the renewal is `unpaid` and the product
`suspended`; later runs try it again and cancel it after `TARIF_RENEWAL_GRACE_DAYS`."""

from __future__ import annotations

from datetime import datetime, timedelta

from billing_batch.jobs.context import JobContext
from billing_batch.jobs.engine_side import EngineSide
from billing_batch.jobs.selecting import each_due
from tarif_billing import adjustments, renewals
from tarif_jobs.runs import ItemRef, Items, RunRequest

OBJECT = "purchase"


async def run_once(ctx: JobContext, request: RunRequest, items: Items) -> None:
    at = request.process_now
    grace = timedelta(days=ctx.settings.renewal_grace_days)
    engine = await EngineSide.of(ctx)
    await each_due(
        ctx,
        request,
        items,
        OBJECT,
        renewals.purchases_to_check,
        lambda ref: _one(ctx, engine, items, ref, at, grace),
    )


async def _one(
    ctx: JobContext,
    engine: EngineSide,
    items: Items,
    ref: ItemRef,
    at: datetime,
    grace: timedelta,
) -> None:
    try:
        async with ctx.pool.acquire() as conn:
            checked = await renewals.check(conn, int(ref.object_id), at, grace)
            paying, renewal = checked.adjustment_id, checked.renewal_id
            if checked.outcome == "pay" and paying is not None and renewal is not None:
                await adjustments.apply(ctx.pool, engine.store, paying, at)
                checked = await renewals.conclude(conn, renewal)
        await engine.push([checked.account_id])
    except Exception as exc:  # recorded with the object; the run goes on with the next one
        await items.failed(ref, exc, cause="the purchase could not be checked")
        return
    if checked.outcome == "unpaid":
        await items.failed(
            ref,
            f"the renewal of purchase {ref.object_id} is unpaid ({checked.message}):"
            " the product is suspended",
            cause="insufficient balance for the renewal; retried by the next runs until the"
            " grace ends, then cancelled",
        )
    elif checked.outcome == "waiting":
        await items.failed(
            ref,
            f"the engine has not answered the renewal payment of purchase {ref.object_id}",
            cause="the engine does not have the account yet; the next run finishes it",
        )
    else:
        await items.succeeded()
