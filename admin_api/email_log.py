"""The e-mail log (seed 004): every message the back office sent or tried, with its status;
a failed one sent again, and an invoice's e-mail sent now.

Both sends are synchronous and go through `tarif_billing.emails`, the function the invoicing
job uses: the attachments are rendered again from the invoice as stored, and the message key
keeps a message from being sent twice (a resend takes the failed message's own key; `force`
sends a sent invoice e-mail again as a new message). An SMTP failure leaves the message
`failed` in the log (with its alert) and answers 503. Each send is audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg

from admin_api import audit
from admin_api.auth import Principal
from admin_api.paging import MAX_ID, Keyset, Listed, Paging
from tarif_billing.emails import (
    KIND,
    InvoiceMails,
    MailUnavailable,
    Outcome,
    again_key,
    issued_key,
    issued_status,
    send_invoice,
)
from tarif_common.errors import Conflict, InvalidRequest, NotFound
from tarif_common.settings import Settings
from tarif_jobs.mail import Mailer, MailFailed
from tarif_postgres import queries

Q = queries.load("email_api")

LOG = Keyset("email-log", "id", MAX_ID)  # newest first
FILTERS = ("status", "kind", "object_type", "object_id", "created_from", "created_to")


def check_filters(filters: Mapping[str, Any]) -> None:
    start, end = filters.get("created_from"), filters.get("created_to")
    if start is not None and end is not None and end <= start:
        raise InvalidRequest("query.created_to", "must be after created_from")
    if filters.get("object_id") is not None and filters.get("object_type") is None:
        raise InvalidRequest("query.object_id", "needs object_type")


async def list_messages(
    conn: asyncpg.Connection, filters: Mapping[str, Any], page: Paging
) -> Listed:
    check_filters(filters)
    arguments = [filters.get(name) for name in FILTERS]
    rows = await conn.fetch(Q.email_log_page, *arguments, LOG.after(page), page.limit)
    return LOG.page(rows, page)


async def get_message(conn: asyncpg.Connection | asyncpg.Pool, email_id: int) -> dict[str, Any]:
    row = await conn.fetchrow(Q.email_by_id, email_id)
    if row is None:
        raise NotFound(f"no e-mail {email_id} in the log")
    return dict(row)


async def resend(
    pool: asyncpg.Pool, settings: Settings, who: Principal, email_id: int
) -> dict[str, Any]:
    """Send a failed message again under its own key; 409 when it was sent (or is being sent)
    or is of a kind the API cannot build again."""
    row = await get_message(pool, email_id)
    if row["status"] == "sent":
        raise Conflict(
            f"e-mail {email_id} was sent at {row['sent_at'].isoformat()}; to send the invoice"
            " again, POST /v1/invoices/{id}/email with force"
        )
    if row["kind"] != KIND or row["object_type"] != "invoice" or not row["object_id"]:
        raise Conflict(f"e-mails of kind {row['kind']!r} are sent again by their own job's retry")
    invoice_id = int(row["object_id"])
    outcome = await _send(pool, settings, who, invoice_id, row["message_key"], "email.resend")
    if outcome != "sent":
        raise Conflict(f"e-mail {email_id} is being sent by another process")
    return await get_message(pool, email_id)


async def email_invoice(
    pool: asyncpg.Pool, settings: Settings, who: Principal, invoice_id: int, *, force: bool
) -> dict[str, Any]:
    """The invoice's e-mail now: 409 if it was sent (unless `force`: then a new message) or the
    invoice failed (it has no document); 404 for an unknown invoice."""
    status = await issued_status(pool, invoice_id)
    key = issued_key(invoice_id)
    if status == "sent":
        if not force:
            raise Conflict(
                f"the e-mail of invoice {invoice_id} was sent already; force sends it again"
            )
        key = again_key(invoice_id, datetime.now(UTC))
    outcome = await _send(pool, settings, who, invoice_id, key, "invoice.email")
    if outcome == "sent_before":
        raise Conflict(f"the e-mail of invoice {invoice_id} was sent already; force sends it again")
    if outcome == "in_flight":
        raise Conflict(f"the e-mail of invoice {invoice_id} is being sent by another process")
    row = await pool.fetchrow(Q.email_by_key, key)
    return dict(row)


async def _send(
    pool: asyncpg.Pool,
    settings: Settings,
    who: Principal,
    invoice_id: int,
    key: str,
    action: str,
) -> Outcome:
    """Send and audit the attempt (its outcome, or the SMTP error: 503)."""
    mails = await InvoiceMails.load(pool, settings)
    mailer = Mailer.from_settings(settings)
    try:
        outcome = await send_invoice(pool, mailer, mails, invoice_id, key=key)
    except MailFailed as exc:
        await _audit(pool, who, action, key, {"status": "failed", "error": str(exc)})
        raise MailUnavailable(f"the e-mail of invoice {invoice_id} was not sent: {exc}") from exc
    if outcome == "sent":
        await _audit(pool, who, action, key, {"status": "sent"})
    return outcome


async def _audit(
    pool: asyncpg.Pool, who: Principal, action: str, key: str, after: dict[str, Any]
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(Q.email_by_key, key)
        await audit.record(
            conn, who, action, "email", str(row["id"]) if row else key, {"key": key}, after
        )
