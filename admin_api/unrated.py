"""Unratable usage in the back office: kept with its reason, listed, corrected, re-rated.

Re-rating sends the corrected event through the engine's public API with an event id that is the
engine's idempotency key: the client's own event id the first time (the engine never stored an
answer under it: unratable usage stops before the charging step), a fresh `tarif-rerate:<row>:<n>`
id after each refusal the engine kept (credit limit reached, service denied). The id is committed
before the call, so a crash between the engine's answer and our record replays the same id:
re-rating twice charges once. If the event was corrected after such a lost answer, the engine
refuses the id for the different event (IDEMPOTENCY_CONFLICT): what the lost answer did is
unknown (it may have charged the usage), so the id is kept, not moved past (a fresh id could
charge the usage twice); the row stays as it was with the result recorded, for the operator to
undo the correction (the next re-rate then replays the lost answer) or reject the event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from prometheus_client import Counter

from tarif_client.engine import Charged, Engine
from tarif_common import keys
from tarif_common.errors import Conflict, InvalidRequest, NotFound
from tarif_postgres import queries

Q = queries.load("unrated")

STATUSES = ("open", "corrected", "rerated", "rejected")
# Engine answers that mean "still cannot be rated": nothing was stored under the id.
_STILL_UNRATABLE = {"USER_UNKNOWN", "RATING_FAILED"}
# Answers after which the same id is tried again: nothing new was stored under it.
_ID_KEPT = _STILL_UNRATABLE | {"INVALID_REQUEST", "IDEMPOTENCY_CONFLICT"}
_MAX_ATTRIBUTE = 256


def _public(row: Mapping[str, Any]) -> dict[str, Any]:
    item = dict(row)
    for name in ("event_time", "kept_at", "updated_at"):
        item[name] = item[name].isoformat()
    if item["cost"] is not None:
        item["cost"] = str(item["cost"])
    return item


async def list_unrated(
    conn: asyncpg.Connection,
    *,
    status: str | None = None,
    reason: str | None = None,
    subscriber: str | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Oldest first; keyset pagination by `id` (pass the last id seen as `after_id`)."""
    if status is not None and status not in STATUSES:
        raise InvalidRequest("status", f"must be one of {', '.join(STATUSES)}")
    if not 1 <= limit <= 1000:
        raise InvalidRequest("limit", "must be 1-1000")
    rows = await conn.fetch(Q.unrated_page, status, reason, subscriber, after_id, limit)
    return [_public(row) for row in rows]


async def get_unrated(conn: asyncpg.Connection, unrated_id: int) -> dict[str, Any]:
    row = await conn.fetchrow(Q.unrated_event_by_id, unrated_id)
    if row is None:
        raise NotFound(f"no unrated event {unrated_id}")
    return _public(row)


async def correct(
    conn: asyncpg.Connection,
    unrated_id: int,
    *,
    subscriber: str | None = None,
    service: str | None = None,
    set_attributes: Mapping[str, str] | None = None,
    remove_attributes: Sequence[str] = (),
) -> dict[str, Any]:
    """Fix the identifier, the service or rating fields; the event as received is kept."""
    for field, value in (("subscriber", subscriber), ("service", service)):
        if value is not None and not keys.ID_PATTERN.fullmatch(value):
            raise InvalidRequest(field, "must be 1-128 characters of A-Z a-z 0-9 _ . : @ + -")
    changes = dict(set_attributes or {})
    for name, value in changes.items():
        if not name or len(name) > _MAX_ATTRIBUTE or len(value) > _MAX_ATTRIBUTE:
            raise InvalidRequest(f"attributes.{name}", f"names and values are 1-{_MAX_ATTRIBUTE}")
    if subscriber is None and service is None and not changes and not remove_attributes:
        raise InvalidRequest("correction", "nothing to change")
    async with conn.transaction():
        row = await conn.fetchrow(Q.lock_unrated_event, unrated_id)
        if row is None:
            raise NotFound(f"no unrated event {unrated_id}")
        if row["status"] == "rerated":
            raise Conflict(f"unrated event {unrated_id} is already re-rated")
        attributes = {**row["attributes"], **changes}
        for name in remove_attributes:
            attributes.pop(name, None)
        original = row["original"] or {
            "subscriber": row["subscriber"],
            "service": row["service"],
            "attributes": row["attributes"],
        }
        await conn.execute(
            Q.correct_unrated_event,
            unrated_id,
            subscriber or row["subscriber"],
            service or row["service"],
            attributes,
            original,
        )
    return await get_unrated(conn, unrated_id)


async def rerate(
    pool: asyncpg.Pool, engine: Engine, unrated_id: int, reratings: Counter | None = None
) -> dict[str, Any]:
    """Charge the (corrected) event through the engine; a re-rated event is left as it is."""
    async with pool.acquire() as conn:
        async with conn.transaction():
            row = await conn.fetchrow(Q.lock_unrated_event, unrated_id)
            if row is None:
                raise NotFound(f"no unrated event {unrated_id}")
            if row["status"] != "rerated":
                rerate_id = await _start_rerate(conn, row)
        if row["status"] == "rerated":
            return await get_unrated(conn, unrated_id)
    try:
        charged = await engine.charge_event(
            event_id=rerate_id,
            subscriber=row["subscriber"],
            service=row["service"],
            event_time=row["event_time"],
            units=row["units"],
            attributes=dict(row["attributes"]),
        )
    except InvalidRequest as exc:
        charged = Charged("INVALID_REQUEST", exc.message, None, "")
    if reratings is not None:
        reratings.labels(charged.result).inc()
    async with pool.acquire() as conn:
        async with conn.transaction():
            await _record(conn, unrated_id, rerate_id, charged)
        return await get_unrated(conn, unrated_id)


async def _start_rerate(conn: asyncpg.Connection, row: Mapping[str, Any]) -> str:
    """Commit the id this re-rate charges under before the engine sees it."""
    n = row["rejections"]
    rerate_id: str = row["event_id"] if n == 0 else f"tarif-rerate:{row['id']}:{n}"
    await conn.execute(Q.start_rerate, row["id"], rerate_id)
    return rerate_id


async def _record(
    conn: asyncpg.Connection, unrated_id: int, rerate_id: str, charged: Charged
) -> None:
    row = await conn.fetchrow(Q.lock_rerate_state, unrated_id)
    if row["status"] == "rerated" or row["rerate_id"] != rerate_id:
        return  # a concurrent re-rate of the same event recorded it already
    if charged.result == "SUCCESS":
        status, rejected = "rerated", 0
    elif charged.result in _ID_KEPT:
        status, rejected = None, 0
    else:
        status, rejected = "rejected", 1  # the engine keeps this answer under rerate_id
    await conn.execute(
        Q.record_rerate,
        unrated_id,
        status,
        charged.result,
        charged.message,
        charged.cost,
        charged.currency or None,
        rejected,
    )
