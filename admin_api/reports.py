"""Financial reports (stored by the financial reporting job): the list, one with its lines as
JSON, and the same lines as CSV. Amounts are exact decimal text."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from admin_api import csvout
from admin_api.paging import MAX_ID, Keyset, Listed, Paging
from tarif_common.errors import InvalidRequest, NotFound
from tarif_postgres import queries

Q = queries.load("reports")

REPORTS = Keyset("financial-reports", "id", MAX_ID)  # newest first
LINE_COLUMNS = [
    "position", "dimension", "currency", "account", "ledger", "ledger_group", "revenue_type",
    "account_type", "debit", "credit", "net", "entries", "opening_deferred", "billed",
    "recognized", "closing_deferred",
]  # fmt: skip
DIMENSIONS = ("account", "ledger", "ledger_group", "revenue_type", "account_type", "total")


async def list_reports(
    conn: asyncpg.Connection,
    page: Paging,
    *,
    kind: str | None = None,
    period_from: date | None = None,
    period_to: date | None = None,
) -> Listed:
    """Reports newest first; `period_from`/`period_to` keep those whose period overlaps
    `[period_from, period_to)`."""
    if period_from is not None and period_to is not None and period_to <= period_from:
        raise InvalidRequest("query.period_to", "must be after period_from")
    rows = await conn.fetch(
        Q.reports_page, kind, period_from, period_to, REPORTS.after(page), page.limit
    )
    items, cursor = REPORTS.page(rows, page)
    return [_report(r) for r in items], cursor


async def get_report(
    conn: asyncpg.Connection, report_id: int, dimension: str | None = None
) -> dict[str, Any]:
    """One report with its lines (of one dimension when given)."""
    if dimension is not None and dimension not in DIMENSIONS:
        raise InvalidRequest("query.dimension", f"must be one of {', '.join(DIMENSIONS)}")
    row = await conn.fetchrow(Q.report_by_id, report_id)
    if row is None:
        raise NotFound(f"no financial report {report_id}")
    lines = await conn.fetch(Q.report_lines, report_id, dimension)
    return _report(row) | {"items": [_line(r) for r in lines]}


async def report_csv(conn: asyncpg.Connection, report_id: int, dimension: str | None = None) -> str:
    """The report's lines as CSV (one report's lines are a few hundred rows at most)."""
    report = await get_report(conn, report_id, dimension)
    rows = [[csvout.cell(line.get(c)) for c in LINE_COLUMNS] for line in report["items"]]
    return csvout.lines([LINE_COLUMNS, *rows])


def _report(row: Mapping[str, Any]) -> dict[str, Any]:
    return dict(row)


def _line(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in row.items() if v is not None}
