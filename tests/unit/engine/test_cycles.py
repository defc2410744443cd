"""Billing cycles remembered per UTC hour are the month of every instant in the zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from engine.charger import _Cycles

# Zones and years with offsets that are not whole hours, changes at local midnight (a month
# can start twice, or not at 00:00) and offsets in seconds (before 1937 and 1972).
ZONES = [
    ("Europe/Ljubljana", 2026),
    ("America/Sao_Paulo", 2018),  # summer time began at 00:00 on 4 November
    ("America/Sao_Paulo", 2019),  # and ended at 00:00 on 17 February (back to 23:00)
    ("America/Havana", 2024),
    ("Asia/Kathmandu", 2026),
    ("America/St_Johns", 2026),
    ("Australia/Lord_Howe", 2026),  # half an hour of summer time
    ("Pacific/Chatham", 2026),
    ("Europe/Amsterdam", 1937),  # +00:19:32 until 1 July 1937
    ("Africa/Monrovia", 1972),  # -00:44:30 until 7 January 1972
]
# into each UTC hour: its first instant, one inside, its last microsecond
STEPS = (timedelta(0), timedelta(minutes=29, seconds=59), timedelta(hours=1, microseconds=-1))


def month(at: datetime, zone: ZoneInfo) -> str:
    local = at.astimezone(zone)
    return f"{local.year:04d}{local.month:02d}"


@pytest.mark.parametrize(("name", "year"), ZONES)
def test_every_hour_of_a_year_gives_each_instant_its_own_month(name: str, year: int) -> None:
    zone, cycles = ZoneInfo(name), _Cycles()
    start = datetime(year, 1, 1, tzinfo=UTC) - timedelta(days=1)
    for hour in range(367 * 24):
        first = start + timedelta(hours=hour)
        for step in STEPS:  # the first computes the hour, the others find it
            at = first + step
            assert cycles.of(at, zone) == month(at, zone), at


def test_times_in_other_zones_are_converted_each_time() -> None:
    zone, cycles = ZoneInfo("Europe/Ljubljana"), _Cycles()
    plus_two = timezone(timedelta(hours=2))
    at = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)  # 1 November at 00:30 in Ljubljana
    assert cycles.of(at, zone) == "202611"
    assert cycles.of(at.astimezone(plus_two), zone) == "202611"
    assert cycles.of(at.astimezone(ZoneInfo("America/New_York")), zone) == "202611"
    assert cycles.of(at, ZoneInfo("UTC")) == "202610"  # another zone, another key
