"""Time bands as week bitmaps: one byte per local minute of the week.

Band times have minute precision, so a 10,080-byte table per band answers "is this local time in
the band" with one index, handles wrap-past-midnight (including Sunday into Monday) without special
cases, and makes the overlap check between two bands exact. There are few bands and the tables are
shared by every rate that names the band.

Membership is decided on local *wall-clock* time: across a DST change a band follows the clock on
the wall (a 02:00-03:00 band is empty on the spring-forward day and lasts two hours on the
fall-back day).
"""

from __future__ import annotations

import datetime

from tarif_catalog.model import TimeBand

MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY


def week_bitmap(band: TimeBand) -> bytes:
    """`result[minute_of_week(t)]` is 1 when local time `t` is inside `band`, else 0."""
    start = band.start.hour * 60 + band.start.minute
    end = band.end.hour * 60 + band.end.minute
    length = end - start if end > start else end - start + MINUTES_PER_DAY
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
