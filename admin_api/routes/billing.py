"""/v1/billing-profiles/{id}/... and /v1/bills, /v1/payments: bills, billing on request, the
invoice preview, bill adjustments, payments (invoices: `invoices.py`).

Roles: every read is open to auditors; operators run billing, bill now, record payments and
adjust bills (an adjustment or refund above TARIF_OPERATOR_ADJUSTMENT_LIMIT needs an admin).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request, Response

from admin_api import bills, payments
from admin_api.answers.base import Answer
from admin_api.answers.billing import (
    Bill,
    BillAdjustment,
    BillingRun,
    BillItem,
    InvoicePreview,
    Payment,
)
from admin_api.auth import Operator, Principal, Reader, Role
from admin_api.paging import Page, Paging, paging
from admin_api.routes.answering import router as new_router
from admin_api.routes.deps import Pool
from admin_api.schemas import BillAdjustmentNew, BillingRunNew, BillNowNew, PaymentNew

router = new_router(tags=["billing"])

Id = Annotated[int, Path(ge=1, le=2**62)]
Paged = Annotated[Paging, Depends(paging)]


def replayed(model: type[Answer]) -> dict[int | str, dict[str, Any]]:
    """The 200 of a write that answers 201: a retry of a recorded `request_id`."""
    return {200: {"model": model, "description": "a retry: recorded before, nothing new written"}}


def _within_limit(request: Request, who: Principal, amount: Decimal) -> None:
    """Operators adjust and refund up to TARIF_OPERATOR_ADJUSTMENT_LIMIT (as for balances)."""
    limit = request.app.state.settings.operator_adjustment_limit
    if who.role is Role.OPERATOR and abs(amount) > limit:
        raise HTTPException(403, f"Operators may adjust or refund at most {limit}")


@router.get(
    "/v1/billing-profiles/{profile_id}/bills",
    response_model=Page[Bill],
    summary="A billing profile's bills, newest first",
)
async def list_bills(
    _: Reader,
    pool: Pool,
    profile_id: Id,
    page: Paged,
    status: Annotated[str | None, Query(pattern=r"^(inactive|active|billing|closed)$")] = None,
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await bills.list_bills(conn, profile_id, status, page)
    return {"items": items, "next_cursor": cursor}


@router.post(
    "/v1/billing-profiles/{profile_id}/run-billing",
    response_model=BillingRun,
    summary="Bill the profile's cycles that ended by `at`",
)
async def run_billing(
    who: Operator, pool: Pool, request: Request, profile_id: Id, body: BillingRunNew
) -> dict[str, Any]:
    """What the billing batch does, for one profile, answered now: every cycle that ended by
    `at` (default now) is billed and its invoice issued. 409 when the active bill's cycle has
    not ended by `at` (bill-now bills it early). A retry of `request_id` answers the same."""
    return await bills.run_billing(pool, request.app.state.settings, who, profile_id, body)


@router.post(
    "/v1/billing-profiles/{profile_id}/bill-now",
    response_model=BillingRun,
    summary="Bill the active bill's charges so far",
)
async def bill_now(
    who: Operator, pool: Pool, request: Request, profile_id: Id, body: BillNowNew
) -> dict[str, Any]:
    """The charges so far go on a bill of their own and are invoiced now; the cycle goes on.
    409 when nothing is left to bill. A retry of `request_id` answers the same."""
    return await bills.bill_now(pool, request.app.state.settings, who, profile_id, body)


@router.get(
    "/v1/billing-profiles/{profile_id}/invoice-preview",
    response_model=InvoicePreview,
    summary="The invoice the next run would issue (nothing written)",
)
async def invoice_preview(
    _: Reader,
    pool: Pool,
    request: Request,
    profile_id: Id,
    details: Annotated[bool, Query(description="also the rated records it takes")] = False,
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await bills.preview(conn, request.app.state.settings, profile_id, details)


@router.get(
    "/v1/billing-profiles/{profile_id}/payments",
    response_model=Page[Payment],
    summary="A billing profile's payments, newest first",
)
async def list_payments(_: Reader, pool: Pool, profile_id: Id, page: Paged) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await payments.list_payments(conn, profile_id, page)
    return {"items": items, "next_cursor": cursor}


@router.post(
    "/v1/billing-profiles/{profile_id}/payments",
    status_code=201,
    response_model=Payment,
    responses=replayed(Payment),
    summary="Record a payment (money received) or a refund",
)
async def record_payment(
    who: Operator,
    pool: Pool,
    request: Request,
    response: Response,
    profile_id: Id,
    body: PaymentNew,
) -> dict[str, Any]:
    """A charge pays `invoice_id`, else the oldest due invoices; the rest becomes credit
    balance. A refund gives credit balance back. Refused (nothing written): an unknown
    invoice (404), a closed one or a refund beyond the credit (409), another currency (422)."""
    if body.kind == "refund":
        _within_limit(request, who, Decimal(body.amount))
    async with pool.acquire() as conn:
        answer = await payments.record(conn, who, profile_id, body)
    if answer["replayed"]:
        response.status_code = 200
    return answer


@router.get("/v1/payments/{payment_id}", response_model=Payment, summary="A payment")
async def get_payment(_: Reader, pool: Pool, payment_id: Id) -> dict[str, Any]:
    """With the invoices it paid (`allocations`)."""
    async with pool.acquire() as conn:
        return await payments.get_payment(conn, payment_id)


@router.get("/v1/bills/{bill_id}", response_model=Bill, summary="A bill")
async def get_bill(_: Reader, pool: Pool, bill_id: Id) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await bills.get_bill(conn, bill_id)


@router.get("/v1/bills/{bill_id}/items", response_model=Page[BillItem], summary="A bill's items")
async def list_bill_items(_: Reader, pool: Pool, bill_id: Id, page: Paged) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await bills.list_items(conn, bill_id, page)
    return {"items": items, "next_cursor": cursor}


@router.get(
    "/v1/bills/{bill_id}/adjustments",
    response_model=Page[BillAdjustment],
    summary="A bill's adjustments",
)
async def list_bill_adjustments(_: Reader, pool: Pool, bill_id: Id, page: Paged) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await bills.list_adjustments(conn, bill_id, page)
    return {"items": items, "next_cursor": cursor}


@router.post(
    "/v1/bills/{bill_id}/adjustments",
    status_code=201,
    response_model=BillAdjustment,
    responses=replayed(BillAdjustment),
    summary="Credit or debit a bill",
)
async def adjust_bill(
    who: Operator,
    pool: Pool,
    request: Request,
    response: Response,
    bill_id: Id,
    body: BillAdjustmentNew,
) -> dict[str, Any]:
    """On an open bill: an item. On a billed one: a credit (< 0) becomes a credit note against
    its invoice; a debit is refused (409: put it on the active bill). A closed bill: 409."""
    _within_limit(request, who, Decimal(body.amount))
    answer = await bills.adjust(pool, request.app.state.settings, who, bill_id, body)
    if answer["replayed"]:
        response.status_code = 200
    return answer
