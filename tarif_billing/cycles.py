"""Billing cycles: the one rule that says when a billing profile's cycle starts and ends.

A cycle is the half-open interval [start, end) between two local midnights in the profile's time
zone, computed with python-dateutil:

- weekly: starts on an ISO weekday (`day` 1 = Monday .. 7 = Sunday);
- monthly: starts on `day` (1-31) of every month; a day past a month's end means its last day
  (day 31: Jan 31, Feb 28 or 29, Mar 31, Apr 30, ...);
- quarterly: the same, every third month counted from `anchor_month` (1-12);
- yearly: the same, once a year in `anchor_month` (day 29 in February: Feb 28 in common years).

Each cycle's start is computed from its own month, never from the previous cycle's start, so
short months do not drift the day (after Feb 28 comes Mar 31 for day 31). Consecutive cycles
tile time: one cycle's end is the next one's start. Where a local midnight does not exist (a DST
gap at 00:00), the cycle starts at the first instant after the gap.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.relativedelta import relativedelta

from tarif_common.errors import InvalidRequest

Interval = Literal["weekly", "monthly", "quarterly", "yearly"]
_MONTHS: dict[str, int] = {"monthly": 1, "quarterly": 3, "yearly": 12}


@dataclass(frozen=True, slots=True)
class CycleRule:
    """When a billing profile's cycles start."""

    interval: Interval
    day: int  # ISO weekday 1-7 for weekly, day of the month 1-31 otherwise
    time_zone: str
    anchor_month: int = 1  # quarterly and yearly: a month cycles start in

    def __post_init__(self) -> None:
        if self.interval == "weekly":
            if not 1 <= self.day <= 7:
                raise InvalidRequest("billing_day", "a weekly cycle starts on a weekday 1-7")
        elif self.interval in _MONTHS:
            if not 1 <= self.day <= 31:
                raise InvalidRequest("billing_day", "must be 1-31")
        else:
            raise InvalidRequest("interval", "must be weekly, monthly, quarterly or yearly")
        if not 1 <= self.anchor_month <= 12:
            raise InvalidRequest("anchor_month", "must be 1-12")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidRequest("time_zone", f"unknown time zone {self.time_zone!r}") from None


@dataclass(frozen=True, slots=True)
class Cycle:
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC; the next cycle's start

    def __contains__(self, at: datetime) -> bool:
        return self.start <= at < self.end


@functools.lru_cache(maxsize=4096)
def cycle_at(rule: CycleRule, at: datetime) -> Cycle:
    """The cycle that holds the instant `at` (an aware datetime). Cached: a billing run asks
    the same few rules about the same few instants for every profile and purchase."""
    if at.tzinfo is None:
        raise ValueError("at must be an aware datetime")
    zone = ZoneInfo(rule.time_zone)
    local = at.astimezone(zone).date()
    if rule.interval == "weekly":
        first = local - timedelta(days=(local.isoweekday() - rule.day) % 7)
        start, end = first, first + timedelta(days=7)
    else:
        period = _period(rule, local)
        start, end = _start_of(rule, period), _start_of(rule, period + 1)
    return Cycle(_midnight(start, zone), _midnight(end, zone))


def next_cycle(rule: CycleRule, cycle: Cycle) -> Cycle:
    """The cycle after `cycle`."""
    return cycle_at(rule, cycle.end)


def _period(rule: CycleRule, local: date) -> int:
    """The number of the period (of 1, 3 or 12 months) whose cycle holds the local date."""
    step = _MONTHS[rule.interval]
    month_index = local.year * 12 + local.month - 1
    period = (month_index - (rule.anchor_month - 1)) // step
    if local < _start_of(rule, period):
        period -= 1
    return period


def _start_of(rule: CycleRule, period: int) -> date:
    month_index = period * _MONTHS[rule.interval] + rule.anchor_month - 1
    first = date(month_index // 12, month_index % 12 + 1, 1)
    return first + relativedelta(day=rule.day)  # relativedelta clamps to the month's last day


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    """Local midnight of `day` as UTC (after the gap when DST skips midnight)."""
    local = datetime.combine(day, time(0), tzinfo=zone)
    return local.astimezone(ZoneInfo("UTC"))
