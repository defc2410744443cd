"""Week bitmaps of time bands."""

from __future__ import annotations

import datetime

from tarif_catalog.bands import MINUTES_PER_WEEK, minute_of_week, overlaps, week_bitmap
from tarif_catalog.model import TimeBand


def band(days: set[int], start: tuple[int, int], end: tuple[int, int]) -> bytes:
    return week_bitmap(TimeBand("b", frozenset(days), datetime.time(*start), datetime.time(*end)))


def test_day_band() -> None:
    bits = band({0}, (8, 0), (20, 0))
    assert sum(bits) == 12 * 60
    assert bits[8 * 60 : 20 * 60] == b"\x01" * (12 * 60)
    assert bits[8 * 60 - 1] == bits[20 * 60] == 0


def test_end_of_day_and_full_day() -> None:
    assert sum(band({2}, (20, 0), (0, 0))) == 4 * 60  # "to: 24:00"
    assert sum(band({2}, (0, 0), (0, 0))) == 24 * 60
    assert sum(band({2}, (8, 0), (8, 0))) == 24 * 60  # start == end: a full 24 hours
    assert sum(band(set(range(7)), (0, 0), (0, 0))) == MINUTES_PER_WEEK


def test_sunday_night_wraps_into_monday() -> None:
    bits = band({6}, (23, 0), (1, 0))
    assert sum(bits) == 120
    assert bits[MINUTES_PER_WEEK - 60 :] == bits[:60] == b"\x01" * 60
    assert bits[60] == 0


def test_minute_of_week() -> None:
    assert minute_of_week(datetime.datetime(2024, 5, 6, 0, 0)) == 0  # Monday
    assert minute_of_week(datetime.datetime(2024, 5, 12, 23, 59, 59)) == MINUTES_PER_WEEK - 1


def test_overlaps() -> None:
    peak = band({0, 1, 2, 3, 4}, (8, 0), (20, 0))
    assert not overlaps(peak, band({0, 1, 2, 3, 4}, (20, 0), (8, 0)))
    assert overlaps(peak, band({4}, (19, 59), (20, 0)))
    assert not overlaps(peak, band({5, 6}, (0, 0), (0, 0)))
    assert overlaps(peak, band({6}, (23, 0), (8, 1)))  # Sunday night into Monday morning
