"""The admin API's billing context: the newest published catalog (Postgres, the system of
record) with the settings, through `tarif_billing.context`."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from admin_api import catalog
from tarif_billing.context import billing_context as context_of
from tarif_billing.issuing import IssueContext
from tarif_billing.runs import BillingFacts
from tarif_common.settings import Settings


async def billing_context(
    conn: asyncpg.Connection, settings: Settings, at: datetime
) -> tuple[IssueContext, BillingFacts]:
    """The context of invoices issued at `at` (the "process now" time) and the catalog facts."""
    return context_of(settings, await catalog.current(conn), at)
