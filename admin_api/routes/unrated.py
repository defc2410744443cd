"""/v1/unrated-events: usage the engine could not rate; correct it, re-rate it once."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request

from admin_api import unrated, unrated_review
from admin_api.answers.administration import UnratedEvent
from admin_api.auth import Operator, Reader
from admin_api.paging import Keyset, Page, Paging, paging
from admin_api.routes.answering import router as new_router
from admin_api.routes.deps import Pool
from admin_api.schemas import Correction

router = new_router(prefix="/v1/unrated-events", tags=["usage"])

EventId = Annotated[int, Path(ge=1, le=2**62)]
EVENTS = Keyset("unrated-events", "id", 0)  # oldest first


@router.get("", response_model=Page[UnratedEvent], summary="List unratable events, oldest first")
async def list_events(
    _: Reader,
    pool: Pool,
    page: Annotated[Paging, Depends(paging)],
    status: Annotated[str | None, Query(pattern=r"^(open|corrected|rerated|rejected)$")] = None,
    reason: Annotated[str | None, Query(max_length=64)] = None,
    subscriber: Annotated[str | None, Query(max_length=128)] = None,
) -> dict[str, Any]:
    after = EVENTS.after(page)
    async with pool.acquire() as conn:
        rows = await unrated.list_unrated(
            conn, status=status, reason=reason, subscriber=subscriber, after_id=after,
            limit=page.limit,
        )  # fmt: skip
    items, cursor = EVENTS.page(rows, page)
    return {"items": items, "next_cursor": cursor}


@router.get("/{event_id}", response_model=UnratedEvent, summary="One unratable event")
async def get(_: Reader, pool: Pool, event_id: EventId) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await unrated.get_unrated(conn, event_id)


@router.patch(
    "/{event_id}",
    response_model=UnratedEvent,
    summary="Correct the identifier, service or rating fields",
)
async def correct(who: Operator, pool: Pool, event_id: EventId, body: Correction) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await unrated_review.correct(conn, who, event_id, body)


@router.post(
    "/{event_id}/rerate", response_model=UnratedEvent, summary="Charge it through the engine (once)"
)
async def rerate(who: Operator, pool: Pool, request: Request, event_id: EventId) -> dict[str, Any]:
    """Re-rating a re-rated event changes nothing and answers it as it is."""
    return await unrated_review.rerate(pool, request.app.state.engine, who, event_id)
