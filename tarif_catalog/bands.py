"""Time bands: which band holds an instant, and where a call crosses from one band to another.

Membership is decided on local *wall-clock* time in the band's time zone: across a DST change a
band follows the clock on the wall (a 02:00-03:00 band is empty on the spring-forward day and
lasts two hours on the fall-back day).

Weekly bands (no date rule) are also compiled to week bitmaps, one byte per local minute of the
week: "is this time in the band" is one index, wrap-past-midnight (including Sunday into Monday)
needs no special case, and the overlap check between two bands is exact. Dated bands (holidays,
days of the month, months) are checked against the calendar: the window that started on the
local date or the day before.
"""

from __future__ import annotations

import datetime
import math
import zoneinfo
from collections.abc import Iterator

from tarif_catalog.model import TimeBand

MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
_DAY = datetime.timedelta(days=1)


def window(band: TimeBand) -> tuple[int, int]:
    """(start minute of the day, length in minutes) of the band's daily window."""
    start = band.start.hour * 60 + band.start.minute
    end = band.end.hour * 60 + band.end.minute
    return start, end - start if end > start else end - start + MINUTES_PER_DAY


def week_bitmap(band: TimeBand) -> bytes:
    """`result[minute_of_week(t)]` is 1 when local time `t` is inside the weekly `band`."""
    start, length = window(band)
    bits = bytearray(MINUTES_PER_WEEK)
    for day in band.days:
        first = day * MINUTES_PER_DAY + start
        for minute in range(first, first + length):
            bits[minute % MINUTES_PER_WEEK] = 1
    return bytes(bits)


def minute_of_week(local: datetime.datetime) -> int:
    """Minutes since Monday 00:00 of the (already local) wall-clock time `local`."""
    return local.weekday() * MINUTES_PER_DAY + local.hour * 60 + local.minute


def overlaps(a: bytes, b: bytes) -> bool:
    """Whether two week bitmaps share any minute."""
    return (int.from_bytes(a, "little") & int.from_bytes(b, "little")) != 0


def contains_local(band: TimeBand, local: datetime.datetime) -> bool:
    """Whether the local wall-clock time `local` (in the band's zone) is inside `band`."""
    start, length = window(band)
    minute = local.hour * 60 + local.minute
    day = local.date()
    if band.starts_on(day) and 0 <= minute - start < length:
        return True
    return band.starts_on(day - _DAY) and 0 <= minute + MINUTES_PER_DAY - start < length


def edges(
    band: TimeBand, zone: zoneinfo.ZoneInfo, after: datetime.datetime, until: datetime.datetime
) -> Iterator[datetime.datetime]:
    """The instants in (`after`, `until`] where `band` opens or closes (aware, in `zone`).

    A wall-clock time that a DST change skips is read as the instant after the gap, one that
    occurs twice as its first occurrence (`fold=0`): a band edge is where the wall clock shows
    the band's time.
    """
    start, length = window(band)
    first = after.astimezone(zone).date() - _DAY
    last = until.astimezone(zone).date()
    day = first
    while day <= last:
        if band.starts_on(day):
            midnight = datetime.datetime(day.year, day.month, day.day)
            for minutes in (start, start + length):
                wall = midnight + datetime.timedelta(minutes=minutes)
                instant = _instant(wall, zone)
                if after < instant <= until:
                    yield instant
                again = wall.replace(tzinfo=zone, fold=1)  # a wall time shown twice (fall back)
                if again.utcoffset() != instant.utcoffset() and after < again <= until:
                    yield again
        day += _DAY
    change = clock_change(zone, after, until)
    if change is not None:
        yield change


def clock_change(
    zone: zoneinfo.ZoneInfo, after: datetime.datetime, until: datetime.datetime
) -> datetime.datetime | None:
    """The instant in (`after`, `until`] where `zone`'s UTC offset changes (to the second), if
    it does; at most one change is looked for (calls are far shorter than the months between
    two). Membership can change there even where no band edge is: the wall clock jumps."""
    if after.astimezone(zone).utcoffset() == until.astimezone(zone).utcoffset():
        return None
    before = after.astimezone(zone).utcoffset()
    lo, hi = math.floor(after.timestamp()), math.ceil(until.timestamp())
    while hi - lo > 1:  # offsets change on whole seconds
        mid = (lo + hi) // 2
        if _at(mid).astimezone(zone).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return _at(hi)


def _at(timestamp: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC)


def _instant(wall: datetime.datetime, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    aware = wall.replace(tzinfo=zone)
    if aware.astimezone(datetime.UTC).astimezone(zone).replace(tzinfo=None) == wall:
        return aware
    # In a spring-forward gap: the first instant whose wall clock reads `wall` or later, found
    # between the two readings of `wall` (with the offsets before and after the change).
    lo = math.floor(wall.replace(tzinfo=zone, fold=1).timestamp())
    hi = math.ceil(aware.timestamp())
    if lo > hi:
        lo, hi = hi, lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _at(mid).astimezone(zone).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return _at(hi)


def could_share_a_day(a: TimeBand, b: TimeBand) -> bool:
    """Whether two bands may both start on one date (conservative for rules without dates)."""
    if a.dates or b.dates:
        listed, other = (a, b) if a.dates else (b, a)
        return any(other.starts_on(day) and listed.starts_on(day) for day in listed.dates)
    if not a.days & b.days:
        return False
    if a.months and b.months and not a.months & b.months:
        return False
    return not (a.days_of_month and b.days_of_month and not a.days_of_month & b.days_of_month)


def windows_overlap(a: TimeBand, b: TimeBand) -> bool:
    """Whether the daily windows of two bands starting on the same date overlap (in minutes)."""
    a_start, a_length = window(a)
    b_start, b_length = window(b)
    return a_start < b_start + b_length and b_start < a_start + a_length
