"""When a job runs: one-off at a time, every N minutes/hours/days/weeks/months/years from a
start, or chained after another job (no times of its own).

Rules (docs/jobs.md):
- the k-th occurrence is computed from the start, never from the previous occurrence, so a
  monthly job from 31 January runs on 28/29 February, then 31 March (python-dateutil's
  `relativedelta` clips to the month's last day), and a yearly one from 29 February runs on
  28 February in common years;
- minutes and hours are elapsed time (every 90 minutes is every 5,400 s, DST or not); days and
  longer keep the wall-clock time in the job's time zone (a daily 02:30 job stays at 02:30 local
  across DST). A local time that does not exist (the spring-forward gap) runs at the same
  distance past the gap's start (02:30 -> 03:30); one that exists twice runs the first time;
- missed runs (everything down past one or more due times) are caught up by **one** run, acting
  as of the latest missed due time; the next run is then the first occurrence after now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

Kind = Literal["once", "every", "chained"]
Unit = Literal["minutes", "hours", "days", "weeks", "months", "years"]
UNITS: tuple[Unit, ...] = ("minutes", "hours", "days", "weeks", "months", "years")

# a rough length of each unit, only to guess how many occurrences lie before a time
_APPROX = {
    "minutes": 60.0,
    "hours": 3600.0,
    "days": 86400.0,
    "weeks": 604800.0,
    "months": 2629746.0,
    "years": 31556952.0,
}


@dataclass(frozen=True)
class Schedule:
    kind: Kind
    start_at: datetime | None = None
    every_n: int | None = None
    every_unit: Unit | None = None
    time_zone: str = "UTC"

    def __post_init__(self) -> None:
        if self.kind != "chained" and (self.start_at is None or self.start_at.tzinfo is None):
            raise ValueError("a scheduled job needs an aware start time")
        if self.kind == "every" and (
            self.every_n is None or self.every_n < 1 or self.every_unit not in UNITS
        ):
            raise ValueError("a repeating job needs every_n >= 1 and a unit")
        ZoneInfo(self.time_zone)  # ZoneInfoNotFoundError (a KeyError) for an unknown zone


def occurrence(s: Schedule, k: int) -> datetime:
    """The k-th due time (k = 0 is the start), in UTC."""
    assert s.start_at is not None
    if s.kind != "every" or k == 0:
        return s.start_at.astimezone(UTC)
    assert s.every_n is not None
    assert s.every_unit is not None
    n = s.every_n * k
    if s.every_unit in ("minutes", "hours"):
        return s.start_at.astimezone(UTC) + timedelta(**{s.every_unit: n})
    zone = ZoneInfo(s.time_zone)
    local = s.start_at.astimezone(zone).replace(tzinfo=None)
    unit = s.every_unit
    step = relativedelta(
        days=n if unit == "days" else 0,
        weeks=n if unit == "weeks" else 0,
        months=n if unit == "months" else 0,
        years=n if unit == "years" else 0,
    )
    wall = local + step
    return _localize(wall, zone)


def _localize(wall: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time in `zone` as UTC: the first of two, and past a gap by its width."""
    # fold=0 takes the first of an ambiguous time; in a gap it applies the offset from before
    # the gap, which lands as far past the gap's start as the wall time was
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def next_after(s: Schedule, t: datetime) -> datetime | None:
    """The first due time strictly after `t` (None: a one-off already past, or chained)."""
    if s.kind == "chained":
        return None
    first = occurrence(s, 0)
    if first > t:
        return first
    if s.kind == "once":
        return None
    k = _index_at_or_before(s, t)
    return occurrence(s, k + 1)


def last_due(s: Schedule, t: datetime) -> datetime | None:
    """The latest due time at or before `t` (None: none yet, or chained)."""
    if s.kind == "chained":
        return None
    first = occurrence(s, 0)
    if first > t:
        return None
    if s.kind == "once":
        return first
    return occurrence(s, _index_at_or_before(s, t))


def _index_at_or_before(s: Schedule, t: datetime) -> int:
    """The largest k with occurrence(k) <= t, given occurrence(0) <= t."""
    assert s.every_n is not None
    assert s.every_unit is not None
    elapsed = (t - occurrence(s, 0)).total_seconds()
    k = max(0, int(elapsed / (_APPROX[s.every_unit] * s.every_n)))
    while k > 0 and occurrence(s, k) > t:
        k -= 1
    while occurrence(s, k + 1) <= t:
        k += 1
    return k


def catch_up(s: Schedule, now: datetime) -> tuple[datetime | None, datetime | None]:
    """(the due time one run acts as of now, the next due time after now). The first is None
    when nothing is due; several missed due times give one run, as of the latest."""
    return last_due(s, now), next_after(s, now)
