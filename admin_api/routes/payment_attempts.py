"""/v1/payment-attempts: the card payments the payment collection asked of the gateway, and an
operator's retry of a failed one. Roles: every role reads; operators retry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request

from admin_api import payment_attempts
from admin_api.answers.payment_attempts import PaymentAttempt
from admin_api.auth import Operator, Reader
from admin_api.paging import Page, Paging, paging
from admin_api.routes.answering import router as new_router
from admin_api.routes.deps import Pool

router = new_router(prefix="/v1/payment-attempts", tags=["payments"])

AttemptId = Annotated[int, Path(ge=1, le=2**62)]
Paged = Annotated[Paging, Depends(paging)]


async def filters(
    invoice_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    status: Annotated[str | None, Query(pattern=r"^(pending|succeeded|declined|error)$")] = None,
    created_from: Annotated[datetime | None, Query(description="made at or after")] = None,
    created_to: Annotated[datetime | None, Query(description="made before")] = None,
) -> dict[str, Any]:
    return {
        "invoice_id": invoice_id,
        "status": status,
        "created_from": created_from,
        "created_to": created_to,
    }


Filters = Annotated[dict[str, Any], Depends(filters)]


@router.get("", response_model=Page[PaymentAttempt], summary="Card payment attempts, newest first")
async def list_attempts(_: Reader, pool: Pool, found: Filters, page: Paged) -> dict[str, Any]:
    """Filters: the invoice, the status, the period the attempts were made in."""
    async with pool.acquire() as conn:
        items, cursor = await payment_attempts.list_attempts(conn, found, page)
    return {"items": items, "next_cursor": cursor}


@router.post(
    "/{attempt_id}/retry",
    response_model=PaymentAttempt,
    summary="Charge a failed attempt's invoice again now",
)
async def retry(
    who: Operator, pool: Pool, request: Request, attempt_id: AttemptId
) -> dict[str, Any]:
    """After a decline: a new attempt with the customer's card and the amount due now (fix the
    card first). After an error: the same charge again under the same idempotency key (it may
    have been made; the gateway never takes it twice). Answers the new attempt: `succeeded`
    (the payment is recorded on the invoice), `declined` or `error`. 409: the attempt is not
    its invoice's latest failed one, nothing is due, the customer has no card, or no gateway
    is configured (TARIF_PAYMENT_GATEWAY_URL)."""
    return await payment_attempts.retry(pool, request.app.state.settings, who, attempt_id)
