"""Usage events entered by hand: charged by the engine like network usage, and audited with
the engine's answer. The request's `request_id` is the engine's event id (the engine's
idempotency key), so a retry charges once; the same `request_id` with another event is the
engine's IDEMPOTENCY_CONFLICT (409); a refusal is a `Refused` problem."""

from __future__ import annotations

from typing import Any

import asyncpg

from admin_api import audit
from admin_api.auth import Principal
from admin_api.customers import account_of
from admin_api.schemas import ManualEvent
from tarif_client.engine import Engine
from tarif_common.errors import InvalidRequest, Refused
from tarif_common.results import Result
from tarif_postgres import queries

Q = queries.load("manual_events")
# what the engine keeps as unratable usage for review (GET /v1/unrated-events) when it refuses
_KEPT_UNRATED = {Result.USER_UNKNOWN, Result.RATING_FAILED}


async def check_service(conn: asyncpg.Connection, customer_id: int, identifier: str) -> None:
    """The identifier is a service of the customer (404 for an unknown customer, 422 else)."""
    identifiers = await conn.fetchval(Q.customer_service_identifiers, customer_id)
    if identifiers is None:
        await account_of(conn, customer_id)  # 404 for an unknown customer
    if identifier not in (identifiers or []):
        raise InvalidRequest("body.service_identifier", "is not a service of this customer")


async def enter(
    pool: asyncpg.Pool, engine: Engine, who: Principal, customer_id: int, event: ManualEvent
) -> dict[str, Any]:
    """Charge the event through the engine; the engine's answer, also kept in the audit log.
    Refused (e.g. CREDIT_LIMIT_REACHED), nothing is charged: `Refused`, after the audit."""
    async with pool.acquire() as conn:
        await check_service(conn, customer_id, event.service_identifier)
    charged = await engine.charge_event(
        event_id=event.request_id,
        subscriber=event.service_identifier,
        service=event.service,
        event_time=event.event_time,  # unset: the engine's now (a retry then still replays)
        units=event.units,
        attributes=event.attributes,
    )
    answer = {
        "request_id": event.request_id,
        "event_id": event.request_id,
        "result": charged.result,
        "message": charged.message,
        "cost": None if charged.cost is None else str(charged.cost),
        "currency": charged.currency or None,
    }
    async with pool.acquire() as conn:
        await audit.record(
            conn, who, "usage.manual_event", "customer", str(customer_id),
            None, event.model_dump(mode="json") | answer,
        )  # fmt: skip
    if charged.result != Result.SUCCESS.name:
        result = Result[charged.result]
        kept = result in _KEPT_UNRATED
        where = "it is kept as unratable usage for review" if kept else "nothing is kept"
        raise Refused(
            result,
            f"the engine refused event {event.request_id!r} ({charged.result}: "
            f"{charged.message}): nothing was charged, {where}",
            {"event_id": event.request_id, "kept_as_unrated": kept},
        )
    return answer
