"""Card payment attempts in the back office: the list, and an operator's retry of a failed one
(charged at once through the payment gateway by `tarif_billing.gateway.attempts.retry`, which
the batch's payment collection shares), with its audit entry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from admin_api import audit
from admin_api.auth import Principal
from admin_api.paging import MAX_ID, Keyset, Listed, Paging
from tarif_billing.gateway import attempts
from tarif_billing.gateway.http import HttpGateway, NotConfigured
from tarif_common.errors import Conflict, InvalidRequest, NotFound
from tarif_common.settings import Settings
from tarif_jobs.failures import record_failure
from tarif_jobs.runs import ItemRef
from tarif_postgres import queries

Q = queries.load("payment_attempts")

ATTEMPTS = Keyset("payment-attempts", "id", MAX_ID)  # newest first
FILTERS = ("invoice_id", "status", "created_from", "created_to")


async def list_attempts(
    conn: asyncpg.Connection, filters: Mapping[str, Any], page: Paging
) -> Listed:
    start, end = filters.get("created_from"), filters.get("created_to")
    if start is not None and end is not None and end <= start:
        raise InvalidRequest("query.created_to", "must be after created_from")
    rows = await conn.fetch(
        Q.attempts_page, *(filters.get(f) for f in FILTERS), ATTEMPTS.after(page), page.limit
    )
    return ATTEMPTS.page(rows, page)


async def get_attempt(conn: asyncpg.Connection, attempt_id: int) -> dict[str, Any]:
    row = await conn.fetchrow(Q.attempt_answer, attempt_id)
    if row is None:
        raise NotFound(f"no payment attempt {attempt_id}")
    return dict(row)


async def retry(
    pool: asyncpg.Pool, settings: Settings, who: Principal, attempt_id: int
) -> dict[str, Any]:
    """Charge the failed attempt's invoice again now; answers the new attempt (succeeded,
    declined or error). 409: not the invoice's latest failed attempt, nothing due, no card, or
    no gateway configured."""
    try:
        gateway = HttpGateway.from_settings(settings, max_connections=1)
    except NotConfigured as exc:
        raise Conflict(str(exc)) from None
    async with gateway:
        settled = await attempts.retry(
            pool, gateway, attempts.Rules.from_settings(settings), attempt_id, who.actor
        )
    async with pool.acquire() as conn, conn.transaction():
        await audit.record(
            conn, who, "payment_attempt.retry", "payment_attempt", str(settled.attempt.id),
            {"retried": attempt_id},
            {"status": settled.status, "code": settled.code or None,
             "invoice_id": settled.attempt.invoice_id, "payment_id": settled.payment_id},
        )  # fmt: skip
        if settled.failed:  # outside a run: the activity log and an alert say so
            await record_failure(
                conn,
                "payment_collection",
                ItemRef("invoice", str(settled.attempt.invoice_id)),
                settled.describe(),
                cause=settled.cause,
            )
        return await get_attempt(conn, settled.attempt.id)
