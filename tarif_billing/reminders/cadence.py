"""When a reminder automation runs: manual (only on Start), weekly, monthly, or a custom date
formula (`tarif_billing.reminders.date_formula`), each from a first run time in a time zone.

- weekly and monthly runs are counted from the first run (`tarif_jobs.schedule`): monthly from
  31 January runs on 28/29 February, then 31 March, never drifting to the 28th;
- a custom formula gives each run date from the one before, as the seed's job queue does:
  `CM+5D` runs on the 5th after each month's end, `+1M-1D` a month less a day after the last
  run. The formula must move every date forwards (checked over four years of dates), so the
  next run is always strictly later. Runs keep the first run's wall-clock time in the zone;
- runs missed while nothing ran (or a first run set in the past) are caught up by one run (the
  collections job's, as of its "process now"); the next run is then the first one after that
  time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from tarif_billing.reminders.date_formula import always_forwards, parse
from tarif_jobs.schedule import Schedule, Unit
from tarif_jobs.schedule import next_after as schedule_next_after

Kind = Literal["manual", "weekly", "monthly", "custom"]
# a custom formula moves a run at least a day: this bounds the catch-up loop (~27 years)
_MAX_STEPS = 10_000


class Cadence(BaseModel):
    """How an automation is scheduled (validated: a custom formula that always moves forwards,
    a first run for every kind but manual, a known time zone)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    kind: Kind
    formula: str | None = Field(
        default=None, max_length=100, description="custom: a date formula, e.g. CM+5D, 1M-1D"
    )
    starts_at: AwareDatetime | None = Field(
        default=None, description="weekly, monthly, custom: the first run"
    )
    time_zone: str = Field(default="UTC", min_length=1, max_length=64)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kind == "custom":
            if not self.formula:
                raise ValueError("a custom cadence needs a date formula (e.g. CM+5D)")
            formula = parse(self.formula)  # FormulaError is a ValueError: a 422
            if not always_forwards(formula):
                raise ValueError(
                    f"the formula {self.formula!r} does not always move a date forwards, so"
                    " it cannot give the next run (e.g. CM gives a month's last day itself)"
                )
            object.__setattr__(self, "formula", str(formula))
        elif self.formula is not None:
            raise ValueError("only a custom cadence takes a date formula")
        if self.kind != "manual" and self.starts_at is None:
            raise ValueError(f"a {self.kind} cadence needs starts_at (its first run)")
        if self.kind == "manual" and self.starts_at is not None:
            raise ValueError("a manual automation runs on Start only: no starts_at")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.time_zone!r}") from None
        return self


def next_after(cadence: Cadence, due: datetime | None, t: datetime) -> datetime | None:
    """The first run strictly after `t`, `due` being the run that was due (custom formulas step
    from it; None: from the first run). None for a manual automation."""
    if cadence.kind == "manual":
        return None
    assert cadence.starts_at is not None
    if cadence.kind in ("weekly", "monthly"):
        unit: Unit = "weeks" if cadence.kind == "weekly" else "months"
        schedule = Schedule("every", cadence.starts_at, 1, unit, cadence.time_zone)
        return schedule_next_after(schedule, t)
    assert cadence.formula is not None
    formula = parse(cadence.formula)
    zone = ZoneInfo(cadence.time_zone)
    at = (due or cadence.starts_at).astimezone(UTC)
    if due is None and at > t:
        return at
    clock = cadence.starts_at.astimezone(zone).timetz().replace(tzinfo=None)
    for _ in range(_MAX_STEPS):
        if at > t:
            return at
        at = _local(formula.apply(at.astimezone(zone).date()), clock, zone)
    raise ValueError(f"no run of {cadence.formula!r} within {_MAX_STEPS} steps after {t}")


def first_run(cadence: Cadence) -> datetime | None:
    """The first run: `starts_at` (None for a manual automation). A first run already past runs
    at the next collections run, once (the catch-up rule), then the cadence goes on from it."""
    if cadence.kind == "manual" or cadence.starts_at is None:
        return None
    return cadence.starts_at.astimezone(UTC)


def _local(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """A local date and wall-clock time as UTC (the first of two; past a gap by its width)."""
    wall = datetime.combine(day, clock)
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
