"""Bills of a billing profile, their items and adjustments, and the billing an operator asks
for: run billing (the profile's due cycles), bill now, the invoice preview.

Run billing and bill now are idempotent by request id: the answer is kept in
`billing_requests` (one request of a profile at a time, under an advisory lock), so a retry
answers it again without billing. The billing itself is `tarif_billing.runs`, the code the
batch runs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from admin_api import audit
from admin_api.auth import Principal
from admin_api.billing_context import billing_context
from admin_api.invoices import document_answer
from admin_api.paging import MAX_ID, Keyset, Listed, Paging
from admin_api.schemas import BillAdjustmentNew, BillingRunNew, BillNowNew
from tarif_billing import corrections, runs
from tarif_billing.issuing import Issued
from tarif_common.errors import Conflict, InvalidRequest, NotFound
from tarif_common.settings import Settings
from tarif_jobs.process_now import process_now
from tarif_postgres import queries

Q = queries.load("billing_api")

BILLS = Keyset("bills", "id", MAX_ID)  # newest first
ITEMS = Keyset("bill-items", "id", 0)
ADJUSTMENTS = Keyset("bill-adjustments", "id", 0)


async def profile(conn: asyncpg.Connection, profile_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(Q.billing_profile_brief, profile_id)
    if row is None:
        raise NotFound(f"no billing profile {profile_id}")
    return row


async def list_bills(
    conn: asyncpg.Connection, profile_id: int, status: str | None, page: Paging
) -> Listed:
    await profile(conn, profile_id)
    rows = await conn.fetch(Q.bills_of_profile, profile_id, status, BILLS.after(page), page.limit)
    return BILLS.page(rows, page)


async def get_bill(conn: asyncpg.Connection, bill_id: int) -> dict[str, Any]:
    row = await conn.fetchrow(Q.bill_answer, bill_id)
    if row is None:
        raise NotFound(f"no bill {bill_id}")
    return dict(row)


async def list_items(conn: asyncpg.Connection, bill_id: int, page: Paging) -> Listed:
    await get_bill(conn, bill_id)
    rows = await conn.fetch(Q.items_of_bill_page, bill_id, ITEMS.after(page), page.limit)
    return ITEMS.page(rows, page)


async def list_adjustments(conn: asyncpg.Connection, bill_id: int, page: Paging) -> Listed:
    await get_bill(conn, bill_id)
    rows = await conn.fetch(
        Q.adjustments_of_bill_page, bill_id, ADJUSTMENTS.after(page), page.limit
    )
    return ADJUSTMENTS.page(rows, page)


# -- billing on request ----------------------------------------------------------------------


def _issued(issued: Issued) -> dict[str, Any]:
    return {
        "bill_id": issued.bill_id,
        "invoice_id": issued.invoice_id,
        "number": issued.number,
        "status": issued.status,
        "error": issued.error,
        "total": str(issued.total),
        "amount_due": str(issued.amount_due),
    }


async def _kept(
    conn: asyncpg.Connection, request_id: str, profile_id: int, operation: str
) -> dict[str, Any] | None:
    """The answer kept for `request_id` (marked replayed); 409 if it was another request."""
    row = await conn.fetchrow(Q.billing_request_by_id, request_id)
    if row is None:
        return None
    if (row["billing_profile_id"], row["operation"]) != (profile_id, operation):
        raise Conflict(f"request id {request_id!r} was used for another billing request")
    answer = row["answer"]
    kept: dict[str, Any] = json.loads(answer) if isinstance(answer, str) else answer
    return kept | {"replayed": True}


async def _keep(
    conn: asyncpg.Connection, who: Principal, answer: dict[str, Any], operation: str
) -> None:
    profile_id = answer["billing_profile_id"]
    await conn.execute(
        Q.insert_billing_request,
        answer["request_id"],
        profile_id,
        operation,
        json.dumps(answer),
        who.actor,
    )
    await audit.record(
        conn, who, f"billing_profile.{operation}", "billing_profile", str(profile_id), None, answer
    )


async def run_billing(
    pool: asyncpg.Pool, settings: Settings, who: Principal, profile_id: int, body: BillingRunNew
) -> dict[str, Any]:
    """Bill the profile's cycles that ended by `at` (default now); 409 when none has, 403 for
    a time other than the present in production (`tarif_jobs.process_now`)."""
    at = process_now(settings, body.at, datetime.now(UTC))
    async with pool.acquire() as conn, conn.transaction():
        await profile(conn, profile_id)
        await conn.execute(Q.lock_billing_requests_of_profile, profile_id)
        if kept := await _kept(conn, body.request_id, profile_id, "run_billing"):
            return kept
        await _check_cycle_ended(conn, profile_id, at)
        ctx, facts = await billing_context(conn, settings, at)
        # the run takes its own transactions (a chunk each), as in the batch
        report = await runs.run_billing(
            pool, ctx, facts, profile_ids=[profile_id], chunk=settings.billing_chunk
        )
        if not report.billed:
            await _check_cycle_ended(conn, profile_id, at)  # a first cycle was just opened
            raise Conflict(f"billing profile {profile_id} has no cycle that ended by {at}")
        answer = {
            "request_id": body.request_id,
            "billing_profile_id": profile_id,
            "operation": "run_billing",
            "at": at.isoformat(),
            "opened": report.opened,
            "billed": report.billed,
            "invoices": [_issued(i) for i in report.invoices],
        }
        await _keep(conn, who, answer, "run_billing")
    return answer | {"replayed": False}


async def _check_cycle_ended(conn: asyncpg.Connection, profile_id: int, at: datetime) -> None:
    end = await conn.fetchval(Q.active_bill_end, profile_id)
    if end is not None and end > at:
        raise Conflict(
            f"the active bill's cycle of billing profile {profile_id} ends at "
            f"{end.isoformat()}, after {at.isoformat()}: use bill-now to bill it early"
        )


async def bill_now(
    pool: asyncpg.Pool, settings: Settings, who: Principal, profile_id: int, body: BillNowNew
) -> dict[str, Any]:
    """The active bill's charges so far, billed now (one transaction)."""
    at = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        await profile(conn, profile_id)
        await conn.execute(Q.lock_billing_requests_of_profile, profile_id)
        if kept := await _kept(conn, body.request_id, profile_id, "bill_now"):
            return kept
        ctx, facts = await billing_context(conn, settings, at)
        issued = await runs.bill_now(conn, profile_id, ctx, facts)
        answer = {
            "request_id": body.request_id,
            "billing_profile_id": profile_id,
            "operation": "bill_now",
            "at": at.isoformat(),
            "opened": 0,
            "billed": 1,
            "invoices": [_issued(issued)] if issued else [],
        }
        await _keep(conn, who, answer, "bill_now")
    return answer | {"replayed": False}


async def bill_at_closing(
    conn: asyncpg.Connection, settings: Settings, customer_id: int
) -> list[dict[str, Any]]:
    """Bill now every postpaid profile of a closing customer that has an active bill (in the
    caller's transaction), so no postpaid charge is left unbilled; what was issued."""
    profiles = await conn.fetch(Q.postpaid_profiles_with_active_bill, customer_id)
    if not profiles:
        return []
    ctx, facts = await billing_context(conn, settings, datetime.now(UTC))
    issued = []
    for row in profiles:
        try:
            made = await runs.bill_now(conn, row["id"], ctx, facts)
        except Conflict:  # billed up to now already: nothing to bill
            continue
        if made is not None:
            issued.append(_issued(made))
    return issued


async def preview(
    conn: asyncpg.Connection, settings: Settings, profile_id: int, details: bool
) -> dict[str, Any]:
    """The invoice the next run would issue, as of now: nothing is written."""
    await profile(conn, profile_id)
    ctx, facts = await billing_context(conn, settings, datetime.now(UTC))
    found = await runs.preview_invoice(conn, profile_id, ctx, facts, details=details)
    events = None
    if found.events is not None:
        amounts = ("units", "rated_units", "cost")
        events = [e | {k: str(e[k]) for k in amounts} for e in found.events]
    document = document_answer(found.document) if found.document is not None else None
    return {"document": document, "events": events}


async def adjust(
    pool: asyncpg.Pool, settings: Settings, who: Principal, bill_id: int, body: BillAdjustmentNew
) -> dict[str, Any]:
    """An item of an open bill, or a credit note of a billed one (`tarif_billing.corrections`)."""
    amount = Decimal(body.amount)
    if amount == 0:
        raise InvalidRequest("body.amount", "must not be zero")
    async with pool.acquire() as conn, conn.transaction():
        ctx, _ = await billing_context(conn, settings, datetime.now(UTC))
        outcome = await corrections.adjust_bill(
            conn,
            corrections.AdjustmentIn(
                request_id=body.request_id,
                bill_id=bill_id,
                amount=amount,
                reason=body.reason,
                bill_item_id=body.bill_item_id,
                balance_group_id=body.balance_group_id,
                tax=body.tax,
                tax_provider=body.tax_provider,
                ledger=body.ledger,
                requested_by=who.actor,
            ),
            ctx,
        )
        answer = dict(await conn.fetchrow(Q.adjustment_answer, outcome.id))
        if not outcome.replayed:
            await audit.record(
                conn, who, "bill.adjust", "bill", str(bill_id), None, body.model_dump(mode="json")
            )
    return answer | {"replayed": outcome.replayed}
