"""Job type `payment_collection`: the due invoices of the customers the criteria select are
collected from their default payment method (seed 000, "Collecte de paiements").

- **Card** customers (`payment_method = credit_card`, a gateway token in their payment info):
  each due invoice (issued, `billing`, amount due > 0, due by "process now" in its profile's
  time zone) is charged through the payment gateway, in chunks, in the order of
  `tarif_billing.gateway.attempts` (claim, send, settle), which makes a crash harmless. A
  decline or an error is a failed run item (activity log and alert), the attempt keeps its code
  and the next try of the retry schedule (`tarif_billing.gateway.policy`); the invoice stays
  due. A run first finishes the attempts a crash left pending.
- **Direct-debit** customers: their due invoices go into one SEPA collection (pain.008 file,
  `tarif_billing.sepa.collections`), made once per "process now" and criteria; an invoice is
  never in two open collections. Due invoices of direct-debit customers without an active
  mandate are failed items (nothing can collect them).

Idempotent: a second run with the same "process now" finds the charged invoices closed, the
failed ones not due again before their next try, and the collection made. A retry of a run
(`request.only`) charges its failed invoices at once, whatever the schedule. No transaction
spans more than a chunk; nothing is held open while the gateway answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import date

from billing_batch.jobs.context import JobContext
from tarif_billing.gateway import attempts
from tarif_billing.gateway.attempts import Attempt, Rules, Settled
from tarif_billing.gateway.http import HttpGateway
from tarif_billing.gateway.protocol import PaymentGateway
from tarif_billing.sepa import collections
from tarif_jobs.criteria import Criteria
from tarif_jobs.failures import record_failure
from tarif_jobs.runs import ItemRef, Items, RunRequest
from tarif_postgres import queries

Q = queries.load("payment_attempts")
SEPA = queries.load("sepa")
PROCESS = "payment_collection"
LANES = 2  # chunks in flight at once: one is sent while another is claimed or settled


async def run_once(ctx: JobContext, request: RunRequest, items: Items) -> None:
    """Collect what is due as of `request.process_now` (see the module docstring)."""
    criteria = Criteria.model_validate(dict(request.criteria))
    rules = Rules.from_settings(ctx.settings)
    if ctx.settings.payment_gateway_url:
        async with HttpGateway.from_settings(ctx.settings) as gateway:
            await collect_cards(ctx, request, items, gateway, criteria, rules)
    else:
        await _cards_not_configured(ctx, request, items, criteria)
    await collect_direct_debits(ctx, request, items, criteria)


async def collect_cards(
    ctx: JobContext,
    request: RunRequest,
    items: Items,
    gateway: PaymentGateway,
    criteria: Criteria,
    rules: Rules,
) -> None:
    """The card part of the run through `gateway`: first the attempts a crash left pending,
    then the due invoices, `LANES` chunks at a time."""
    only = _only_invoices(request)
    if only == []:
        return
    after = 0
    while not ctx.stop():
        unfinished = await attempts.claim_unfinished(
            ctx.pool, criteria, rules, after=after, only=only, run_id=request.run_id
        )
        if not unfinished:
            break
        await _charge(ctx, request, items, gateway, rules, unfinished)
        after = unfinished[-1].id
    cursor = _Cursor()
    await attempts.together(
        [_lane(ctx, request, items, gateway, criteria, rules, only, cursor) for _ in range(LANES)]
    )


class _Cursor:
    """Where the lanes of a run are in the invoices (each claims the chunk after the last one
    claimed by any lane)."""

    def __init__(self) -> None:
        self.after = 0
        self.done = False
        self.lock = asyncio.Lock()


async def _lane(
    ctx: JobContext,
    request: RunRequest,
    items: Items,
    gateway: PaymentGateway,
    criteria: Criteria,
    rules: Rules,
    only: list[int] | None,
    cursor: _Cursor,
) -> None:
    while not ctx.stop():
        async with cursor.lock:
            if cursor.done:
                return
            claimed, scanned_to = await attempts.claim_due(
                ctx.pool,
                criteria,
                request.process_now,
                rules,
                after=cursor.after,
                only=only,
                run_id=request.run_id,
            )
            if scanned_to is None:
                cursor.done = True
                return
            cursor.after = scanned_to
        if claimed:
            await _charge(ctx, request, items, gateway, rules, claimed)


async def _charge(
    ctx: JobContext,
    request: RunRequest,
    items: Items,
    gateway: PaymentGateway,
    rules: Rules,
    claimed: list[Attempt],
) -> None:
    await items.add_total(len(claimed))
    sent = await attempts.send_all(gateway, claimed, rules)
    settled = await attempts.settle(ctx.pool, sent, rules, process_now=request.process_now)
    done = sum(1 for s in settled if not s.failed)
    if done:
        await items.succeeded(done)
    for s in settled:
        if s.failed:
            await items.failed(
                ItemRef("invoice", str(s.attempt.invoice_id)), s.describe(), cause=s.cause
            )
    await _alert_gave_up(ctx, request, [s for s in settled if s.gave_up])


async def _alert_gave_up(ctx: JobContext, request: RunRequest, gave_up: list[Settled]) -> None:
    """A critical alert per invoice whose retry schedule ran out: an operator must act."""
    for s in gave_up:
        async with ctx.pool.acquire() as conn, conn.transaction():
            await record_failure(
                conn,
                PROCESS,
                ItemRef("invoice", str(s.attempt.invoice_id)),
                s.describe(),
                cause="the retry schedule ran out",
                run_id=request.run_id,
                severity="critical",
                alert_key=f"{PROCESS}:gave-up:{s.attempt.invoice_id}",
            )


async def _cards_not_configured(
    ctx: JobContext, request: RunRequest, items: Items, criteria: Criteria
) -> None:
    """Without a gateway nothing is charged; if card invoices are due, the run says so once."""
    ref = ItemRef("payment_gateway", "card")
    if request.only is not None and ref not in request.only and not _only_invoices(request):
        return
    condition, values = criteria.where("c", first=2)
    async with ctx.pool.acquire() as conn:
        due = await conn.fetchval(
            queries.compose(Q.card_invoices_due, criteria=condition), request.process_now, *values
        )
    if due:
        await items.add_total(1)
        await items.failed(
            ref,
            f"{due} card invoice(s) are due but no payment gateway is configured",
            cause="TARIF_PAYMENT_GATEWAY_URL is not set",
        )


def _only_invoices(request: RunRequest) -> list[int] | None:
    """A retry's invoice ids (None: not a retry; [] a retry of no invoice)."""
    ids = request.only_ids("invoice")
    return None if ids is None else [int(i) for i in ids]


# -- direct debit -------------------------------------------------------------------------------


async def collect_direct_debits(
    ctx: JobContext, request: RunRequest, items: Items, criteria: Criteria
) -> None:
    """One SEPA collection of the due invoices of the direct-debit customers the criteria
    select (its request id derives from "process now" and the criteria: made once)."""
    day = request.process_now.date()
    ref = ItemRef("sepa_collection", f"{day.isoformat()}:{_digest(criteria)}")
    if request.only is not None and ref not in request.only:
        return
    condition, values = criteria.where("c", first=1)
    async with ctx.pool.acquire() as conn:
        customers = [
            r["id"]
            for r in await conn.fetch(
                queries.compose(Q.direct_debit_customers, criteria=condition), *values
            )
        ]
    if not customers:
        return
    creditor_id = ctx.settings.sepa_creditor_id
    await _report_missing_mandates(ctx, request, items, criteria, creditor_id, day)
    try:
        creditor = collections.creditor_of(ctx.settings)
    except collections.NotConfigured as exc:
        async with ctx.pool.acquire() as conn:
            due = await conn.fetchval(Q.direct_debit_due, customers, day)
        if due:
            await items.add_total(1)
            await items.failed(ref, f"{due} direct-debit invoice(s) are due: {exc}", cause=str(exc))
        return
    async with ctx.pool.acquire() as conn:
        try:
            made = await collections.collect(
                conn,
                creditor,
                f"{PROCESS}:{request.process_now.isoformat()}:{_digest(criteria)}",
                day,
                PROCESS,
                customer_ids=customers,
            )
        except collections.NothingDue:
            return
        collection = await conn.fetchrow(SEPA.collection_by_id, made.collection_id)
    if made.created:
        await items.add_total(collection["item_count"])
        await items.succeeded(collection["item_count"])


async def _report_missing_mandates(
    ctx: JobContext,
    request: RunRequest,
    items: Items,
    criteria: Criteria,
    creditor_id: str,
    day: date,
) -> None:
    condition, values = criteria.where("c", first=3)
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            queries.compose(Q.direct_debit_without_mandate, criteria=condition),
            creditor_id,
            day,
            *values,
        )
    if rows:
        await items.add_total(len(rows))
    for r in rows:
        await items.failed(
            ItemRef("invoice", str(r["id"])),
            f"invoice {r['number']}: customer {r['customer_id']} pays by direct debit but has"
            " no active mandate",
            cause="no active SEPA mandate: set the customer's payment info",
        )


def _digest(criteria: Criteria) -> str:
    text = json.dumps(criteria.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
