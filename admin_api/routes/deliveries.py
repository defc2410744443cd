"""/v1/notification-deliveries: deliveries of notifications, and dead ones re-sent.

Roles: every role reads; operators re-send.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from admin_api import notification_resend
from admin_api.answers.reports import NotificationDelivery, Resent
from admin_api.auth import Operator, Reader
from admin_api.paging import Page, Paging, paging
from admin_api.routes.answering import router as new_router
from admin_api.routes.deps import Pool

router = new_router(prefix="/v1/notification-deliveries", tags=["notifications"])

DeliveryId = Annotated[int, Path(ge=1, le=2**62)]
Paged = Annotated[Paging, Depends(paging)]


class ResendFilter(BaseModel):
    """Which dead deliveries to re-send: all the given fields must match (none given: every
    dead one, up to `limit`)."""

    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[int, Field(ge=1, le=2**62)]] | None = Field(None, max_length=10_000)
    channel: Annotated[str, Field(pattern=r"^(email|sms|webhook)$")] | None = None
    recipient: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    error_contains: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    limit: int = Field(1000, ge=1, le=notification_resend.BULK_LIMIT)


@router.get(
    "",
    response_model=Page[NotificationDelivery],
    summary="Notification deliveries, newest first",
)
async def list_deliveries(
    _: Reader,
    pool: Pool,
    page: Paged,
    status: Annotated[
        str | None, Query(pattern=r"^(pending|sending|delivered|dead|skipped)$")
    ] = None,
    channel: Annotated[str | None, Query(pattern=r"^(email|sms|webhook)$")] = None,
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await notification_resend.list_deliveries(
            conn, page, status=status, channel=channel
        )
    return {"items": items, "next_cursor": cursor}


@router.post("/resend", response_model=Resent, summary="Re-send the dead deliveries chosen")
async def resend_many(who: Operator, pool: Pool, body: ResendFilter) -> dict[str, Any]:
    """Each goes back to pending, due now, for the notifier (self-care mails are left: their
    token is gone)."""
    async with pool.acquire() as conn:
        resent = await notification_resend.resend_many(
            conn,
            who,
            ids=body.ids,
            channel=body.channel,
            recipient=body.recipient,
            error_contains=body.error_contains,
            limit=body.limit,
        )
    return {"resent": resent}


@router.post(
    "/{delivery_id}/resend",
    response_model=NotificationDelivery,
    summary="Re-send a dead delivery",
)
async def resend(who: Operator, pool: Pool, delivery_id: DeliveryId) -> dict[str, Any]:
    """Back to pending, due now: the notifier gives it one more attempt. 409 if it is not
    dead, or is a self-care mail."""
    async with pool.acquire() as conn:
        return await notification_resend.resend(conn, who, delivery_id)
