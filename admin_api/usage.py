"""A customer's usage as billing sees it (`rated_events`): listed per period, exported, and an
event's amount lowered through the engine (a refund of the difference)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from admin_api import audit, catalog, csvout
from admin_api.auth import Principal
from admin_api.customers import accounts_of
from admin_api.schemas import UsageAdjustment
from tarif_catalog.model import currency_decimals
from tarif_client.engine import Charged, Engine
from tarif_common.errors import Conflict, InvalidRequest, NotFound, Refused
from tarif_common.results import Result
from tarif_postgres import queries

Q = queries.load("usage")

# the columns the usage queries select, in their order (the CSV's header)
FIELDS = (
    "request_id", "kind", "subscriber", "service", "rate", "event_time", "charged_at", "units",
    "rated_units", "cost", "currency", "uncovered", "impacts", "session_id", "refunded",
    "attributes", "reason",
)  # fmt: skip


def _period(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and end <= start:
        raise InvalidRequest("query.to", "must be after from")


def _public(row: asyncpg.Record) -> dict[str, Any]:
    item = dict(row)
    for name in ("cost", "uncovered"):
        item[name] = str(item[name])
    return item


async def list_usage(
    conn: asyncpg.Connection,
    customer_id: int,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Oldest first within [start, end); keyset pages on (event_time, request_id)."""
    _period(start, end)
    account_id = await accounts_of(conn, customer_id)
    after: tuple[datetime, str] | None = None
    if cursor:
        try:
            at, request_id = json.loads(base64.urlsafe_b64decode(cursor))
            after = (datetime.fromisoformat(at), str(request_id))
        except (ValueError, TypeError, binascii.Error):
            raise InvalidRequest("query.cursor", "is not a cursor of this listing") from None
    rows = await conn.fetch(
        Q.usage_page,
        account_id,
        start,
        end,
        after[0] if after else None,
        after[1] if after else "",
        limit,
    )
    items = [_public(r) for r in rows]
    next_cursor = None
    if len(items) == limit:
        last = rows[-1]
        payload = [last["event_time"].isoformat(), last["request_id"]]
        next_cursor = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    return items, next_cursor


async def export_csv(
    pool: asyncpg.Pool, customer_id: int, start: datetime | None, end: datetime | None
) -> AsyncIterator[str]:
    yield csvout.lines([FIELDS])
    async with pool.acquire() as conn, conn.transaction():
        account_id = await accounts_of(conn, customer_id)
        rows: list[list[Any]] = []
        async for row in conn.cursor(Q.usage_export, account_id, start, end, prefetch=2000):
            rows.append([csvout.cell(row[name]) for name in FIELDS])
            if len(rows) >= 2000:
                yield csvout.lines(rows)
                rows = []
        if rows:
            yield csvout.lines(rows)


async def adjust_amount(
    conn: asyncpg.Connection,
    engine: Engine,
    who: Principal,
    customer_id: int,
    body: UsageAdjustment,
) -> dict[str, Any]:
    """The engine refunds (charged - new amount); refunds already made count as charged less.
    The request's `request_id` is the engine's refund id, so a retry refunds once; a refusal
    is a `Refused` problem (nothing refunded)."""
    account_id = await accounts_of(conn, customer_id)
    event_id = body.event_id.removeprefix("e:")
    if ":" in event_id:
        raise InvalidRequest("body.event_id", "only charged events (e:<event id>) can be adjusted")
    event = await conn.fetchrow(Q.charged_event, account_id, f"e:{event_id}")
    if event is None:
        raise NotFound(f"no charged event {event_id!r} (or not ingested yet)")
    refunded = await conn.fetchval(Q.refunded_so_far, account_id, event_id)
    charged = Decimal(event["cost"]) + Decimal(refunded)
    new = Decimal(body.amount)
    done = await conn.fetchval(Q.refund_cost, account_id, f"r:{body.request_id}")
    if done is not None:  # a retry of an adjustment already made: the engine replays it
        charged -= Decimal(done)
        new = charged + Decimal(done)
    elif new >= charged:
        raise Conflict(f"the event costs {charged} now; an adjustment can only lower it")
    published = await catalog.current(conn)
    decimals = currency_decimals(published.resources, event["currency"])
    answer: Charged = await engine.refund(
        subscriber=event["subscriber"],
        refund_id=body.request_id,
        original_event_id=event_id,
        amount=charged - new,
        currency=event["currency"],
        decimals=decimals,
    )
    result = {
        "request_id": body.request_id,
        "event_id": event_id,
        "result": answer.result,
        "message": answer.message,
        "refunded": None if answer.cost is None else str(answer.cost),
        "currency": event["currency"],
        "amount_before": str(charged),
        "amount_after": str(new) if answer.result == "SUCCESS" else str(charged),
    }
    await audit.record(
        conn, who, "usage.adjust", "customer", str(customer_id),
        {"event_id": event_id, "amount": str(charged)},
        result | {"reason": body.reason},
    )  # fmt: skip
    if answer.result != Result.SUCCESS.name:
        raise Refused(
            Result[answer.result],
            f"the engine refused to refund event {event_id!r} ({answer.result}: "
            f"{answer.message}): nothing was refunded, the event costs {charged}",
        )
    return result
