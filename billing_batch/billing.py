"""The batch's bulk billing run: every billing profile whose cycle ended by a "process now"
time, in chunks shared with any other batch process (`tarif_billing.runs.run_billing`).

The scheduled billing job (issue #12) calls `run_due_billing` with its "process now" time; today
`tarif billing run` does. Several processes may run it at once: each chunk of due bills is taken
with `FOR UPDATE SKIP LOCKED` and billed in one transaction, so a killed run loses only its open
chunk, which the next run bills."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import asyncpg

from tarif_billing.context import billing_context
from tarif_billing.runs import RunReport, run_billing
from tarif_catalog import Catalog
from tarif_common.settings import Settings

log = logging.getLogger(__name__)


async def run_due_billing(
    pool: asyncpg.Pool,
    settings: Settings,
    catalog: Catalog,
    at: datetime,
    *,
    stop: Callable[[], bool] = lambda: False,
) -> RunReport:
    """Bill every profile due by `at`; returns what was billed and issued."""
    ctx, facts = billing_context(settings, catalog, at)
    report = await run_billing(pool, ctx, facts, chunk=settings.billing_chunk, stop=stop)
    log.info(
        "billing_run",
        extra={
            "at": at.isoformat(),
            "opened": report.opened,
            "billed": report.billed,
            "invoices": len(report.invoices),
            "failed": report.failed,
        },
    )
    return report
