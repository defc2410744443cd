"""The batch's bulk billing run: every billing profile whose cycle ended by a "process now"
time, in chunks shared with any other batch process (`tarif_billing.runs.run_billing`).

The billing job (`billing_batch.jobs.billing`) calls `run_due_billing` with its run's "process
now" time and criteria; so does `tarif billing run`. Several processes may run it at once: each
chunk of due bills is taken with `FOR UPDATE SKIP LOCKED` and billed in one transaction, so a
killed run loses only its open chunk, which the next run bills."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

import asyncpg

from tarif_billing.context import billing_context
from tarif_billing.runs import OnChunk, RunReport, run_billing
from tarif_catalog import Catalog
from tarif_common.progress import Progress
from tarif_common.settings import Settings
from tarif_jobs.criteria import Criteria

log = logging.getLogger(__name__)


async def run_due_billing(
    pool: asyncpg.Pool,
    settings: Settings,
    catalog: Catalog,
    at: datetime,
    *,
    profile_ids: Sequence[int] | None = None,
    criteria: Criteria | None = None,
    stop: Callable[[], bool] = lambda: False,
    on_chunk: OnChunk | None = None,
    progress: Progress | None = None,
) -> RunReport:
    """Bill every profile due by `at` (of `profile_ids`, whose customer matches `criteria`);
    returns what was billed and issued. `progress`: see `run_billing` (`tarif billing run`)."""
    ctx, facts = billing_context(settings, catalog, at)
    report = await run_billing(
        pool,
        ctx,
        facts,
        profile_ids=profile_ids,
        criteria=criteria,
        chunk=settings.billing_chunk,
        stop=stop,
        on_chunk=on_chunk,
        progress=progress,
    )
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
