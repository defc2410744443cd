"""Schedule arithmetic (tarif_jobs.schedule): worked examples written from its rules, and
properties over random schedules and instants: the next run is always strictly later, iterating
it finds every due time (none skipped, none twice), and missed runs give one catch-up run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tarif_jobs.schedule import Schedule, Unit, catch_up, last_due, next_after, occurrence

PARIS = "Europe/Paris"
NEW_YORK = "America/New_York"
ZONES = ("UTC", PARIS, NEW_YORK)


def local(zone: str, *parts: int, fold: int = 0) -> datetime:
    """A wall-clock time in `zone`, as UTC."""
    return datetime(*parts, tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)  # type: ignore[misc]


def every(n: int, unit: Unit, start: datetime, zone: str = "UTC") -> Schedule:
    return Schedule("every", start, n, unit, zone)


def walls(s: Schedule, count: int) -> list[str]:
    """The first `count` due times as local wall clock, with their UTC offset."""
    zone = ZoneInfo(s.time_zone)
    return [occurrence(s, k).astimezone(zone).isoformat(timespec="minutes") for k in range(count)]


def due_between(s: Schedule, after: datetime, until: datetime) -> list[datetime]:
    """Every due time in (after, until], by brute force over k."""
    found = []
    k = 0
    while (at := occurrence(s, k)) <= until:
        if at > after:
            found.append(at)
        k += 1
        if s.kind == "once":
            break
    return found


# --- worked examples ---------------------------------------------------------------------------


def test_monthly_from_january_31_takes_each_months_last_day_without_drifting() -> None:
    s = every(1, "months", local(PARIS, 2027, 1, 31, 10), PARIS)
    assert walls(s, 5) == [
        "2027-01-31T10:00+01:00", "2027-02-28T10:00+01:00", "2027-03-31T10:00+02:00",
        "2027-04-30T10:00+02:00", "2027-05-31T10:00+02:00",
    ]  # fmt: skip
    leap = every(1, "months", local(PARIS, 2028, 1, 31, 10), PARIS)
    assert walls(leap, 3)[1] == "2028-02-29T10:00+01:00"


def test_yearly_from_february_29_runs_on_february_28_in_common_years() -> None:
    s = every(1, "years", local(NEW_YORK, 2028, 2, 29, 6), NEW_YORK)
    assert [w[:10] for w in walls(s, 5)] == [
        "2028-02-29", "2029-02-28", "2030-02-28", "2031-02-28", "2032-02-29",
    ]  # fmt: skip


def test_daily_keeps_the_wall_clock_across_dst_and_a_missing_time_runs_past_the_gap() -> None:
    # Paris springs forward on 2024-03-31 at 02:00 (to 03:00): 02:30 does not exist that day
    s = every(1, "days", local(PARIS, 2024, 3, 29, 2, 30), PARIS)
    assert walls(s, 4) == [
        "2024-03-29T02:30+01:00", "2024-03-30T02:30+01:00", "2024-03-31T03:30+02:00",
        "2024-04-01T02:30+02:00",
    ]  # fmt: skip
    # it falls back on 2024-10-27 at 03:00 (to 02:00): 02:30 exists twice, the first one runs
    s = every(1, "days", local(PARIS, 2024, 10, 26, 2, 30), PARIS)
    assert walls(s, 3) == [
        "2024-10-26T02:30+02:00", "2024-10-27T02:30+02:00", "2024-10-28T02:30+01:00",
    ]  # fmt: skip


def test_weekly_in_new_york_across_both_changes() -> None:
    s = every(1, "weeks", local(NEW_YORK, 2024, 3, 3, 2, 30), NEW_YORK)
    assert walls(s, 3) == [
        "2024-03-03T02:30-05:00", "2024-03-10T03:30-04:00", "2024-03-17T02:30-04:00",
    ]  # fmt: skip
    s = every(1, "weeks", local(NEW_YORK, 2024, 10, 27, 1, 30), NEW_YORK)
    assert walls(s, 3) == [
        "2024-10-27T01:30-04:00", "2024-11-03T01:30-04:00", "2024-11-10T01:30-05:00",
    ]  # fmt: skip


def test_every_90_minutes_is_elapsed_time_across_dst() -> None:
    start = local(PARIS, 2024, 3, 31, 0, 0)
    s = every(90, "minutes", start, PARIS)
    assert [occurrence(s, k) - start for k in range(4)] == [
        timedelta(minutes=90 * k) for k in range(4)
    ]
    assert walls(s, 3) == [
        "2024-03-31T00:00+01:00",
        "2024-03-31T01:30+01:00",
        "2024-03-31T04:00+02:00",
    ]


def test_missed_runs_give_one_catch_up_as_of_the_latest_due_time() -> None:
    start = datetime(2026, 1, 1, 6, tzinfo=UTC)
    s = every(1, "days", start)
    # down from 1 to 11 January, back at noon on the 11th: ten due times missed, one run
    due, following = catch_up(s, datetime(2026, 1, 11, 12, tzinfo=UTC))
    assert due == datetime(2026, 1, 11, 6, tzinfo=UTC)
    assert following == datetime(2026, 1, 12, 6, tzinfo=UTC)
    assert catch_up(s, start - timedelta(seconds=1)) == (None, start)


def test_a_one_off_runs_once_and_a_chained_job_has_no_times() -> None:
    at = datetime(2026, 5, 1, 8, tzinfo=UTC)
    once = Schedule("once", at)
    assert next_after(once, at - timedelta(seconds=1)) == at
    assert next_after(once, at) is None
    assert catch_up(once, at + timedelta(days=3)) == (at, None)
    chained = Schedule("chained")
    assert catch_up(chained, at) == (None, None)


def test_a_schedule_that_cannot_be_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        Schedule("once", datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="every_n"):
        Schedule("every", datetime(2026, 1, 1, tzinfo=UTC), 0, "days")
    with pytest.raises(KeyError):
        Schedule("every", datetime(2026, 1, 1, tzinfo=UTC), 1, "days", "Mars/Olympus")


# --- properties -------------------------------------------------------------------------------

UNIT_N: dict[Unit, st.SearchStrategy[int]] = {
    "minutes": st.sampled_from([1, 15, 90, 1441]),
    "hours": st.integers(1, 49),
    "days": st.integers(1, 10),
    "weeks": st.integers(1, 5),
    "months": st.integers(1, 13),
    "years": st.integers(1, 4),
}
# the ranges where a due time is looked for, per unit (enough occurrences, a bounded number)
SPAN = {
    "minutes": timedelta(days=3),
    "hours": timedelta(days=30),
    "days": timedelta(days=120),
    "weeks": timedelta(days=400),
    "months": timedelta(days=3 * 366),
    "years": timedelta(days=12 * 366),
}
INSTANTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    zone = draw(st.sampled_from(ZONES))
    unit: Unit = draw(st.sampled_from(list(UNIT_N)))
    n = draw(UNIT_N[unit])
    special = draw(st.sampled_from(["any", "jan31", "feb29", "gap", "fold"]))
    z = ZoneInfo(zone)
    if special == "any":
        start = draw(INSTANTS)
    else:
        year = draw(st.integers(2001, 2035))
        if special == "jan31":
            wall = datetime(year, 1, 31, draw(st.integers(0, 23)), draw(st.integers(0, 59)))
        elif special == "feb29":
            wall = datetime(2028 if year % 4 else year, 2, 29, draw(st.integers(0, 23)))
        else:  # close to a DST change: the wall times that do not exist or exist twice
            # the days the change can fall on (Europe: last Sunday of March / October;
            # New York: second Sunday of March / first Sunday of November)
            europe = zone != NEW_YORK
            month, first = {
                ("gap", True): (3, 25), ("gap", False): (3, 8),
                ("fold", True): (10, 25), ("fold", False): (11, 1),
            }[special, europe]  # fmt: skip
            day = first + draw(st.integers(0, 6))
            wall = datetime(
                year, month, day, draw(st.integers(0, 3)), draw(st.sampled_from([0, 30]))
            )
        start = wall.replace(tzinfo=z, fold=draw(st.integers(0, 1))).astimezone(UTC)
    kind = draw(st.sampled_from(["every"] * 5 + ["once"]))
    if kind == "once":
        return Schedule("once", start, time_zone=zone)
    return Schedule("every", start, n, unit, zone)


def _span(s: Schedule) -> timedelta:
    return SPAN[s.every_unit] * (s.every_n or 1) if s.every_unit else timedelta(days=30)


@st.composite
def schedule_and_instant(draw: st.DrawFn) -> tuple[Schedule, datetime]:
    s = draw(schedules())
    assert s.start_at is not None
    offset = draw(st.floats(-0.1, 1.0, allow_nan=False))
    at = s.start_at + _span(s) * offset
    jitter = draw(
        st.sampled_from([timedelta(0), timedelta(microseconds=1), -timedelta(microseconds=1)])
    )
    if draw(st.booleans()):  # exactly on (or beside) a due time
        k = draw(st.integers(0, 30))
        at = occurrence(s, k if s.kind == "every" else 0)
    return s, at + jitter


@settings(max_examples=400, deadline=None)
@given(schedule_and_instant())
def test_the_next_run_is_strictly_later_and_none_lies_between(
    case: tuple[Schedule, datetime],
) -> None:
    s, t = case
    following = next_after(s, t)
    if following is None:
        assert s.kind == "once"
        assert occurrence(s, 0) <= t
        return
    assert following > t
    # it is a due time, and the one before it is not after t
    k = 0
    while occurrence(s, k) < following:
        assert occurrence(s, k) <= t
        k += 1
        if s.kind == "once":
            break
    assert occurrence(s, k) == following


@settings(max_examples=300, deadline=None)
@given(schedule_and_instant(), st.floats(0.0, 1.0, allow_nan=False))
def test_iterating_next_after_finds_every_due_time_once(
    case: tuple[Schedule, datetime], length: float
) -> None:
    s, after = case
    until = after + _span(s) * length
    expected = due_between(s, after, until)
    assume(len(expected) <= 400)
    found = []
    t = after
    while (at := next_after(s, t)) is not None and at <= until:
        assert at > t
        found.append(at)
        t = at
        assert len(found) <= len(expected), "a due time found twice"
    assert found == expected


@settings(max_examples=400, deadline=None)
@given(schedule_and_instant())
def test_catch_up_is_one_run_as_of_the_latest_due_time(case: tuple[Schedule, datetime]) -> None:
    s, now = case
    due, following = catch_up(s, now)
    assert due == last_due(s, now)
    assert following == next_after(s, now)
    if due is None:
        assert occurrence(s, 0) > now
        assert following == occurrence(s, 0)
        return
    assert due <= now
    # nothing is due between the catch-up run and now: one run, not one per missed time
    assert due_between(s, due, now) == []
    if following is not None:
        assert following > now
        assert due_between(s, due, following) == [following]


@settings(max_examples=300, deadline=None)
@given(schedules(), st.integers(0, 40))
def test_calendar_units_keep_the_wall_clock_unless_it_does_not_exist(s: Schedule, k: int) -> None:
    assume(s.kind == "every" and s.every_unit not in ("minutes", "hours"))
    assert s.start_at is not None
    zone = ZoneInfo(s.time_zone)
    start = s.start_at.astimezone(zone)
    at = occurrence(s, k).astimezone(zone)
    if k == 0:
        assert at == start
        return
    wall = start.replace(tzinfo=None).time()
    if at.time() != wall:
        # the start's wall time does not exist on that day: it runs as far past the gap
        naive = datetime.combine(at.date(), wall)
        round_trip = naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)
        assert round_trip.replace(tzinfo=None) != naive
        assert at.utcoffset() != naive.replace(tzinfo=zone).utcoffset()


@settings(max_examples=200, deadline=None)
@given(schedules(), st.integers(0, 200))
def test_minutes_and_hours_are_elapsed_time(s: Schedule, k: int) -> None:
    assume(s.kind == "every" and s.every_unit in ("minutes", "hours"))
    assert s.start_at is not None
    assert s.every_n is not None
    step = timedelta(minutes=s.every_n) if s.every_unit == "minutes" else timedelta(hours=s.every_n)
    assert occurrence(s, k) - occurrence(s, 0) == step * k
