"""/v1/unrated-events: usage the engine could not rate; correct it, re-rate it once."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from admin_api import audit, unrated
from admin_api.auth import Operator, Reader
from admin_api.problems import COMMON
from admin_api.routes.deps import Pool
from admin_api.schemas import Correction

router = APIRouter(prefix="/v1/unrated-events", tags=["usage"], responses=COMMON)

EventId = Annotated[int, Path(ge=1, le=2**62)]


@router.get("", summary="List unratable events, oldest first")
async def list_events(
    _: Reader,
    pool: Pool,
    status: Annotated[str | None, Query(pattern=r"^(open|corrected|rerated|rejected)$")] = None,
    reason: Annotated[str | None, Query(max_length=64)] = None,
    subscriber: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[int | None, Query(ge=0, le=2**62, description="last id seen")] = None,
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items = await unrated.list_unrated(
            conn, status=status, reason=reason, subscriber=subscriber, after_id=cursor, limit=limit
        )
    return {"items": items, "next_cursor": str(items[-1]["id"]) if len(items) == limit else None}


@router.get("/{event_id}", summary="One unratable event")
async def get(_: Reader, pool: Pool, event_id: EventId) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await unrated.get_unrated(conn, event_id)


@router.patch("/{event_id}", summary="Correct the identifier, service or rating fields")
async def correct(who: Operator, pool: Pool, event_id: EventId, body: Correction) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        before = await unrated.get_unrated(conn, event_id)
        after = await unrated.correct(
            conn,
            event_id,
            subscriber=body.subscriber,
            service=body.service,
            set_attributes=body.set_attributes,
            remove_attributes=body.remove_attributes,
        )
        await audit.record(
            conn, who, "unrated.correct", "unrated_event", str(event_id), before, after
        )
    return after


@router.post("/{event_id}/rerate", summary="Charge it through the engine (once)")
async def rerate(who: Operator, pool: Pool, request: Request, event_id: EventId) -> dict[str, Any]:
    """Re-rating a re-rated event changes nothing and answers it as it is."""
    done = await unrated.rerate(pool, request.app.state.engine, event_id)
    async with pool.acquire() as conn:
        await audit.record(conn, who, "unrated.rerate", "unrated_event", str(event_id), None, done)
    return done
