"""/v1/email-log: the messages the back office sent or tried (invoices, reminders, exports),
a failed one sent again; /v1/invoices/{id}/email: an invoice's e-mail sent now.

Roles: auditors read; operators send. A send answers when the SMTP server did: 503 if it
refused or could not be reached (the message is then `failed` in the log, with its alert).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request

from admin_api import email_log
from admin_api.answers.email_log import EmailMessage
from admin_api.auth import Operator, Reader
from admin_api.paging import Page, Paging, paging
from admin_api.routes.answering import router as new_router
from admin_api.routes.deps import Pool
from admin_api.schemas import InvoiceEmailNew

router = new_router(tags=["email log"])

EmailId = Annotated[int, Path(ge=1, le=2**62)]
InvoiceId = Annotated[int, Path(ge=1, le=2**62)]
Paged = Annotated[Paging, Depends(paging)]
Name = Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


async def filters(
    status: Annotated[str | None, Query(pattern=r"^(pending|sent|failed)$")] = None,
    kind: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,31}$")] = None,
    object_type: Name = None,
    object_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    created_from: Annotated[datetime | None, Query(description="inclusive")] = None,
    created_to: Annotated[datetime | None, Query(description="exclusive")] = None,
) -> dict[str, Any]:
    """`object_type` and `object_id` name what a message is about (`invoice`, `17`); the
    period is the message's first attempt."""
    return {
        "status": status,
        "kind": kind,
        "object_type": object_type,
        "object_id": object_id,
        "created_from": created_from,
        "created_to": created_to,
    }


Filters = Annotated[dict[str, Any], Depends(filters)]


@router.get("/v1/email-log", response_model=Page[EmailMessage], summary="E-mails, newest first")
async def list_email_log(_: Reader, pool: Pool, found: Filters, page: Paged) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await email_log.list_messages(conn, found, page)
    return {"items": items, "next_cursor": cursor}


@router.get("/v1/email-log/{email_id}", response_model=EmailMessage, summary="One e-mail")
async def get_email(_: Reader, pool: Pool, email_id: EmailId) -> dict[str, Any]:
    return await email_log.get_message(pool, email_id)


@router.post(
    "/v1/email-log/{email_id}/resend",
    response_model=EmailMessage,
    summary="Send a failed e-mail again",
)
async def resend(who: Operator, pool: Pool, request: Request, email_id: EmailId) -> dict[str, Any]:
    """Sent again now under its own key, its attachments rendered again from the object as
    stored (invoice e-mails). 409 if it was sent or is being sent, or if its kind is sent again
    by its own job. 503 if the SMTP server fails again (the message stays `failed`)."""
    return await email_log.resend(pool, request.app.state.settings, who, email_id)


@router.post(
    "/v1/invoices/{invoice_id}/email",
    response_model=EmailMessage,
    summary="E-mail an issued invoice or credit note now",
)
async def email_invoice(
    who: Operator,
    pool: Pool,
    request: Request,
    invoice_id: InvoiceId,
    body: InvoiceEmailNew | None = None,
) -> dict[str, Any]:
    """To the customer's billing contact (else the customer's e-mail), with the Factur-X PDF,
    logged as the invoicing job logs it (so the job does not send it again). 409 if it was sent
    already (`force` sends it again, as a new message), or the invoice failed and has no
    document. 503 if the SMTP server refused it or could not be reached."""
    force = body.force if body is not None else False
    return await email_log.email_invoice(
        pool, request.app.state.settings, who, invoice_id, force=force
    )
