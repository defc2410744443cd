"""The file of an export: the chosen data of the period written as CSV or JSON into a local file,
row by row from a server-side cursor, so 100,000 rows are never held in memory at once.

The rows are read in one read-only REPEATABLE READ transaction: the file is one consistent
snapshot, and the read holds no lock. Amounts are exact decimal text (JSON strings, never
floats); dates and times ISO 8601. A CSV text cell that a spreadsheet would take for a formula
gets a leading quote, as the admin API's CSV exports do.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import asyncpg

from tarif_jobs.report_criteria import ExportCriteria, day_start
from tarif_postgres import queries

Q = queries.load("reports")

# data type -> the columns its query selects, in their order
COLUMNS: dict[str, tuple[str, ...]] = {
    "invoices": (
        "id", "kind", "number", "status", "customer_id", "billing_profile_id", "corrects_number",
        "currency", "issue_date", "due_date", "period_start", "period_end", "net_total",
        "tax_total", "total", "credit_applied", "paid", "credited", "transferred", "amount_due",
    ),
    "payments": (
        "id", "kind", "method", "provider", "reference", "customer_id", "billing_profile_id",
        "invoice_id", "amount", "currency", "to_credit", "received_at", "recorded_at",
        "recorded_by",
    ),
    "usage_events": (
        "account_id", "customer_id", "request_id", "kind", "subscriber", "service", "rate",
        "event_time", "charged_at", "stored_at", "units", "rated_units", "cost", "currency",
        "session_id",
    ),
    "financial_reports": (
        "report_id", "kind", "period_start", "period_last_day", "time_zone", "revision",
        "dimension", "currency", "account", "ledger", "ledger_group", "revenue_type",
        "account_type", "debit", "credit", "net", "entries", "opening_deferred", "billed",
        "recognized", "closing_deferred",
    ),
}  # fmt: skip

# (data type, period field) -> the SQL column a period selects on (trusted, from this table)
_FIELDS: dict[tuple[str, str], str] = {
    ("invoices", "issue_date"): "i.issue_date",
    ("invoices", "due_date"): "i.due_date",
    ("payments", "received_at"): "p.received_at",
    ("payments", "recorded_at"): "p.created_at",
    ("usage_events", "event_time"): "e.event_time",
    ("usage_events", "stored_at"): "e.ingested_at",
    ("financial_reports", "period_end"): "(r.period_end - 1)",
    ("financial_reports", "computed_at"): "r.computed_at",
}
_DATE_FIELDS = frozenset({"issue_date", "due_date", "period_end"})
_MEDIA = {"csv": "text/csv", "json": "application/json"}
CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class ExportFile:
    path: Path
    name: str
    media_type: str
    rows: int
    size: int
    sha256: str

    def chunks(self) -> Iterator[bytes]:
        """The file's bytes in pieces (for signing and sending without reading it whole)."""
        with self.path.open("rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk


def export_query(criteria: ExportCriteria, start: date, end: date) -> tuple[str, list[Any]]:
    """The data query of the export and its arguments: the period's bounds, then the customer
    criteria's values."""
    field = _FIELDS[(criteria.data, criteria.date_field)]
    if criteria.date_field in _DATE_FIELDS:
        bounds: list[Any] = [start, end]
    else:
        bounds = [day_start(start, criteria.time_zone), day_start(end, criteria.time_zone)]
    template = {
        "invoices": Q.export_invoices,
        "payments": Q.export_payments,
        "usage_events": Q.export_usage_events,
        "financial_reports": Q.export_financial_reports,
    }[criteria.data]
    if criteria.data == "financial_reports":
        return queries.compose(template, field=field), bounds
    condition, values = criteria.customer_criteria().where("c", first=3)
    return queries.compose(template, field=field, customers=condition), [*bounds, *values]


async def write_export(
    pool: asyncpg.Pool, criteria: ExportCriteria, start: date, end: date, directory: Path
) -> ExportFile:
    """Write the export of `[start, end)` into `directory`; returns what was written."""
    query, args = export_query(criteria, start, end)
    columns = COLUMNS[criteria.data]
    name = criteria.file_name(start, end)
    path = directory / name
    digest = hashlib.sha256()
    rows = 0
    with path.open("wb") as out:
        writer = _Writer(out, digest, criteria.format, columns)
        async with (
            pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            async for row in conn.cursor(query, *args, prefetch=2000):
                writer.row(row)
                rows += 1
        writer.close()
    return ExportFile(
        path, name, _MEDIA[criteria.format], rows, path.stat().st_size, digest.hexdigest()
    )


class _Writer:
    """Encodes rows to the file as they come (and hashes what it writes)."""

    def __init__(self, out: BinaryIO, digest: Any, fmt: str, columns: tuple[str, ...]) -> None:
        self._out, self._digest, self._fmt, self._columns = out, digest, fmt, columns
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer)
        self._first = True
        if fmt == "csv":
            self._csv.writerow(columns)
            self._flush()
        else:
            self._write("[")

    def row(self, row: Mapping[str, Any]) -> None:
        if self._fmt == "csv":
            self._csv.writerow([_csv_cell(row[c]) for c in self._columns])
            self._flush()
            return
        item = {c: _json_value(row[c]) for c in self._columns}
        self._write(("\n" if self._first else ",\n") + json.dumps(item, ensure_ascii=False))
        self._first = False

    def close(self) -> None:
        if self._fmt == "json":
            self._write("\n]\n" if not self._first else "]\n")

    def _flush(self) -> None:
        self._write(self._buffer.getvalue())
        self._buffer.seek(0)
        self._buffer.truncate()

    def _write(self, text: str) -> None:
        data = text.encode()
        self._digest.update(data)
        self._out.write(data)


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # no formula when opened in a spreadsheet
    return value
