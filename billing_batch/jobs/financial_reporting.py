"""Job type `financial_reporting`: the journal of a period summed by ledger, ledger group, revenue
type and account type (debit, credit, net), or the revenue-recognition summary journal of a
month, computed by set-based SQL from the postings and stored as a report.

One report per kind, period, time zone and filters: a second run of the same period (a resumed
run, a retry, a run "as of" the same date) computes it again in the same report, and its
revision goes up only when its figures changed. The report is the run's one item
(`financial_report`, `<kind>:<first day>:<day after the last>`); computing it is one short
transaction (the sums and the write), never one across runs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from billing_batch.jobs.context import JobContext
from billing_batch.jobs.origin import period_time
from tarif_jobs.report_criteria import FinancialReportCriteria, fingerprint
from tarif_jobs.runs import ItemRef, Items, RunRequest
from tarif_postgres import queries
from tarif_postgres.queries import arrays

Q = queries.load("reports")
log = logging.getLogger(__name__)

COLUMNS = (
    "dimension", "currency", "account", "ledger", "ledger_group", "revenue_type", "account_type",
    "debit", "credit", "net", "entries", "opening_deferred", "billed", "recognized",
    "closing_deferred",
)  # fmt: skip
_MONEY = frozenset(COLUMNS[7:10] + COLUMNS[11:])


@dataclass(frozen=True, slots=True)
class Stored:
    report_id: int
    revision: int
    changed: bool


async def run_once(ctx: JobContext, request: RunRequest, items: Items) -> None:
    criteria = FinancialReportCriteria.model_validate(dict(request.criteria))
    as_of = await period_time(ctx.pool, request)  # a retry: its original run's period
    start, end = criteria.period.window(as_of, criteria.time_zone)
    ref = ItemRef("financial_report", f"{criteria.report}:{start}:{end}")
    if not request.wants(ref):
        return
    await items.add_total(1)
    try:
        stored = await compute_report(ctx.pool, criteria, start, end, run_id=request.run_id)
    except asyncpg.PostgresError as exc:
        await items.failed(ref, exc, cause="the report could not be computed or stored")
        return
    log.info(
        "financial_report.stored",
        extra={"report": stored.report_id, "revision": stored.revision, "changed": stored.changed},
    )
    await items.succeeded()


async def compute_report(
    pool: asyncpg.Pool,
    criteria: FinancialReportCriteria,
    start: date,
    end: date,
    *,
    run_id: int | None = None,
) -> Stored:
    """Compute the report of `[start, end)` and store it (in place when it exists)."""
    filters = criteria.filters()
    key = fingerprint(filters)
    query = Q.journal_report if criteria.report == "journal" else Q.revenue_recognition_report
    args = [filters[f] for f in ("ledgers", "ledger_groups", "revenue_types", "account_types")]
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            Q.upsert_report,
            criteria.report,
            start,
            end,
            criteria.time_zone,
            filters,
            key,
            run_id,
        )
        report_id: int = row["id"]
        lines = [_stored(r) for r in await conn.fetch(query, start, end, *args)]
        before = [_stored(r) for r in await conn.fetch(Q.report_lines_stored, report_id)]
        if [_figures(x) for x in lines] == [_figures(x) for x in before]:
            return Stored(report_id, row["revision"], row["created"])
        await conn.execute(Q.delete_report_lines, report_id)
        if lines:
            await conn.execute(Q.insert_report_lines, report_id, *_columns(lines))
        if row["created"]:
            return Stored(report_id, row["revision"], True)
        await conn.execute(Q.bump_report_revision, report_id)
        return Stored(report_id, row["revision"] + 1, True)


def _stored(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """A line as written: amounts as exact decimal text (their scale kept)."""
    return tuple(str(row[c]) if c in _MONEY and row[c] is not None else row[c] for c in COLUMNS)


def _figures(line: tuple[Any, ...]) -> tuple[Any, ...]:
    """A line as compared: 12.2 and 12.20 are the same figure."""
    return tuple(
        Decimal(v).normalize() if c in _MONEY and v is not None else v
        for c, v in zip(COLUMNS, line, strict=True)
    )


def _columns(lines: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    positions = range(1, len(lines) + 1)
    return arrays(([p, *line] for p, line in zip(positions, lines, strict=True)), 16)
