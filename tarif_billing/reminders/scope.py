"""What an action of a run works with (`Env`: connections, the billing context, the mailer, the
"process now" time) and on (`Scope`: the terms filter, the customer criteria, a retry's
objects)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from tarif_billing.issuing import IssueContext
from tarif_jobs.criteria import Criteria
from tarif_jobs.mail import Mailer
from tarif_postgres import queries


@dataclass(frozen=True)
class Env:
    pool: asyncpg.Pool
    # seller, number series, default tax, decimals; each fee invoice takes its posting time
    issue: IssueContext
    mailer: Mailer | None
    # the terms of a billing profile that names none (None: such profiles are not reminded)
    default_terms: str | None
    process_now: datetime
    run_id: int | None = None  # the job run: e-mail log rows and failures name it
    chunk: int = 200
    stop: Callable[[], bool] = lambda: False

    def today(self, time_zone: str) -> date:
        """ "Process now" as a date in a billing profile's time zone (as invoices are dated)."""
        return self.today_at(self.process_now, time_zone)

    @staticmethod
    def today_at(at: datetime, time_zone: str) -> date:
        return at.astimezone(ZoneInfo(time_zone)).date()


@dataclass(frozen=True)
class Scope:
    """The objects an action touches: reminders (or billing profiles) whose terms pass the
    automation's filter (empty: every term) and whose customer meets every criteria given (the
    job's, the automation's, the action's); on a retry, only the failed objects."""

    terms: tuple[str, ...] = ()
    criteria: tuple[Criteria, ...] = ()
    only_profiles: list[int] | None = None
    only_reminders: list[int] | None = None

    def compose(self, query: str, first: int) -> tuple[str, list[Any]]:
        """`query` with its `{where}` slot filled with the criteria on customers `c`, and the
        values they bind from `$first` on."""
        parts: list[str] = []
        args: list[Any] = []
        for criteria in self.criteria:
            condition, values = criteria.where("c", first + len(args))
            if condition != "TRUE":
                parts.append(condition)
                args += values
        return queries.compose(query, where=" AND ".join(parts) or "TRUE"), args
