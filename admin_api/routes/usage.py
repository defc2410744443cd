"""/v1/usage: one charge followed across the processes (docs/tracing.md).

Roles: every role may read a trace.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Request

from admin_api import trace
from admin_api.answers.trace import Trace
from admin_api.auth import Reader
from admin_api.routes.answering import router as new_router
from admin_api.routes.deps import Pool

router = new_router(tags=["usage"])


@router.get(
    "/v1/usage/{event_id}/trace",
    response_model=Trace,
    summary="One charge's path: the engine's answer, the rated record, bill item, invoice line",
)
async def trace_event(
    _: Reader,
    pool: Pool,
    request: Request,
    event_id: Annotated[str, Path(max_length=130, description="the event id (e: optional)")],
    subscriber: Annotated[
        str | None,
        Query(
            max_length=128,
            description="its service identifier: the record is found by key (without it,"
            " every partition of rated_events is read)",
        ),
    ] = None,
) -> dict[str, Any]:
    """The rated record carries `x_request_id`, the request id of the call that charged it.
    Which links are kept and which are derived is said in `notes`; a 409 when the event id
    was charged on several accounts and no subscriber was given."""
    async with pool.acquire() as conn:
        return await trace.trace(conn, request.app.state.store, event_id, subscriber)
