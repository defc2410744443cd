"""Invoices and credit notes: the list (and its CSV export), one with its lines and VAT, its
document, and a failed one made again.

An issued invoice never changes (Postgres refuses it); what moves is what payments and credit
notes do to it (`paid`, `credited`, `amount_due`, `status`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from admin_api import audit, csvout
from admin_api.auth import Principal
from admin_api.billing_context import billing_context
from admin_api.paging import MAX_ID, Keyset, Listed, Paging
from tarif_billing import runs
from tarif_billing.document import Document
from tarif_billing.documents import load_document
from tarif_billing.render import media_type, render
from tarif_common.errors import Conflict, InvalidRequest, NotFound
from tarif_common.settings import Settings
from tarif_postgres import queries

Q = queries.load("billing_api")

INVOICES = Keyset("invoices", "id", MAX_ID)  # newest first
FILTERS = ("billing_profile_id", "customer_id", "status", "kind", "issued_from", "issued_to")
CSV_COLUMNS = [
    "id", "kind", "number", "status", "billing_profile_id", "customer_id", "corrects_number",
    "currency", "issue_date", "due_date", "period_start", "period_end", "net_total", "tax_total",
    "total", "credit_applied", "paid", "credited", "transferred", "amount_due", "error",
]  # fmt: skip


def check_filters(filters: Mapping[str, Any]) -> None:
    start, end = filters.get("issued_from"), filters.get("issued_to")
    if start is not None and end is not None and end < start:
        raise InvalidRequest("query.issued_to", "must not be before issued_from")


def _arguments(filters: Mapping[str, Any]) -> list[Any]:
    check_filters(filters)
    return [filters.get(name) for name in FILTERS]


async def list_invoices(
    conn: asyncpg.Connection, filters: Mapping[str, Any], page: Paging
) -> Listed:
    rows = await conn.fetch(Q.invoices_page, *_arguments(filters), INVOICES.after(page), page.limit)
    return INVOICES.page(rows, page)


async def export_csv(pool: asyncpg.Pool, filters: Mapping[str, Any]) -> AsyncIterator[str]:
    """Every matching invoice as CSV, newest first, read a page at a time (as the list)."""
    arguments = _arguments(filters)
    yield csvout.lines([CSV_COLUMNS])
    after: Any = MAX_ID
    while True:
        async with pool.acquire() as conn:
            rows = await conn.fetch(Q.invoices_page, *arguments, after, 2000)
        if not rows:
            return
        yield csvout.lines([[_cell(row[name]) for name in CSV_COLUMNS] for row in rows])
        if len(rows) < 2000:
            return
        after = rows[-1]["id"]


def _cell(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else csvout.cell(value)


async def get_invoice(conn: asyncpg.Connection, invoice_id: int) -> dict[str, Any]:
    """One invoice or credit note with its lines and VAT breakdown."""
    row = await conn.fetchrow(Q.invoice_answer, invoice_id)
    if row is None:
        raise NotFound(f"no invoice {invoice_id}")
    lines = [dict(r) for r in await conn.fetch(Q.invoice_lines_answer, invoice_id)]
    taxes = [dict(r) for r in await conn.fetch(Q.invoice_taxes_answer, invoice_id)]
    return dict(row) | {"lines": lines, "taxes": taxes}


async def regenerate(
    conn: asyncpg.Connection, settings: Settings, who: Principal, invoice_id: int
) -> dict[str, Any]:
    """A failed invoice made again from its bill's items and today's reference data: issued
    now, or failed again with the new reason. 409 if it is not failed. The profile's other
    failed invoices are made again with it (the library makes a profile's failed ones)."""
    async with conn.transaction():
        row = await conn.fetchrow(Q.lock_invoice_to_regenerate, invoice_id)
        if row is None:
            raise NotFound(f"no invoice {invoice_id}")
        if row["status"] != "failed":
            raise Conflict(f"invoice {invoice_id} is {row['status']}, not failed")
        ctx, _ = await billing_context(conn, settings, datetime.now(UTC))
        made = await runs.regenerate_failed(conn, ctx, profile_id=row["billing_profile_id"])
        mine = next((i for i in made if i.invoice_id == invoice_id), None)
        await audit.record(
            conn, who, "invoice.regenerate", "invoice", str(invoice_id), {"status": "failed"},
            {"status": mine.status if mine else "failed", "number": mine.number if mine else None},
        )  # fmt: skip
    return await get_invoice(conn, invoice_id)


FORMATS = ("json", "html", "pdf", "facturx", "ubl", "cii")


async def document_bytes(
    conn: asyncpg.Connection, settings: Settings, invoice_id: int, fmt: str
) -> tuple[bytes, str]:
    """The issued invoice's document in `fmt` and its media type (409 for a failed invoice).
    An operator's `invoice.html.j2` in TARIF_TEMPLATES_DIR replaces the HTML template."""
    if fmt not in FORMATS:
        raise InvalidRequest("query.format", f"must be one of {', '.join(FORMATS)}")
    document = await load_document(conn, invoice_id)
    if fmt == "json":  # the API's own JSON: the preview's document, as typed in OpenAPI
        return json.dumps(document_answer(document), default=str).encode(), "application/json"
    content = render(document, fmt, templates_dir=settings.templates_dir)
    return content, media_type(fmt)


def document_answer(document: Document) -> dict[str, Any]:
    """The document as JSON: amounts as exact decimal text, dates as they are."""
    plain: dict[str, Any] = _plain(asdict(document))
    return plain


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
