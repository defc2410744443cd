"""Billing cycles: worked examples written from the rules, and properties over random instants."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tarif_billing.cycles import Cycle, CycleRule, cycle_at, next_cycle
from tarif_common.errors import InvalidRequest

LJ = "Europe/Ljubljana"


def local(zone: str, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(zone)).astimezone(UTC)  # type: ignore[misc]


def starts(rule: CycleRule, at: datetime, count: int) -> list[str]:
    """The local start dates of `count` cycles from the one holding `at`."""
    cycle = cycle_at(rule, at)
    found = []
    for _ in range(count):
        found.append(cycle.start.astimezone(ZoneInfo(rule.time_zone)).date().isoformat())
        cycle = next_cycle(rule, cycle)
    return found


def test_monthly_from_the_31st_takes_each_months_last_day_without_drifting() -> None:
    rule = CycleRule("monthly", 31, LJ)
    assert starts(rule, local(LJ, 2027, 1, 31, 12), 5) == [
        "2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31",
    ]  # fmt: skip


def test_monthly_day_30_in_a_leap_february() -> None:
    rule = CycleRule("monthly", 30, LJ)
    assert starts(rule, local(LJ, 2028, 2, 10), 3) == ["2028-01-30", "2028-02-29", "2028-03-30"]


def test_yearly_from_february_29_is_february_28_in_common_years() -> None:
    rule = CycleRule("yearly", 29, LJ, anchor_month=2)
    assert starts(rule, local(LJ, 2028, 3, 1), 5) == [
        "2028-02-29", "2029-02-28", "2030-02-28", "2031-02-28", "2032-02-29",
    ]  # fmt: skip


def test_quarterly_counts_from_its_anchor_month() -> None:
    rule = CycleRule("quarterly", 15, LJ, anchor_month=2)
    assert starts(rule, local(LJ, 2027, 1, 10), 4) == [
        "2026-11-15", "2027-02-15", "2027-05-15", "2027-08-15",
    ]  # fmt: skip


def test_weekly_starts_on_its_weekday() -> None:
    rule = CycleRule("weekly", 1, LJ)  # Mondays
    # Sunday 2027-03-28 (the night clocks go forward) is in the week from Monday 22nd
    assert starts(rule, local(LJ, 2027, 3, 28, 12), 2) == ["2027-03-22", "2027-03-29"]


def test_a_cycle_across_the_spring_dst_change_is_an_hour_short() -> None:
    cycle = cycle_at(CycleRule("monthly", 1, LJ), local(LJ, 2027, 3, 15))
    assert cycle.start == datetime(2027, 2, 28, 23, tzinfo=UTC)  # 1 March 00:00 CET
    assert cycle.end == datetime(2027, 3, 31, 22, tzinfo=UTC)  # 1 April 00:00 CEST
    assert cycle.end - cycle.start == timedelta(days=31, hours=-1)


def test_the_instant_of_a_boundary_belongs_to_the_new_cycle() -> None:
    rule = CycleRule("monthly", 1, "UTC")
    boundary = datetime(2027, 5, 1, tzinfo=UTC)
    assert cycle_at(rule, boundary).start == boundary
    assert cycle_at(rule, boundary - timedelta(microseconds=1)).end == boundary


def test_a_midnight_lost_to_dst_starts_the_cycle_after_the_gap() -> None:
    # Santiago moved clocks from 00:00 to 01:00 on 2022-09-11
    rule = CycleRule("monthly", 11, "America/Santiago")
    cycle = cycle_at(rule, datetime(2022, 9, 20, tzinfo=UTC))
    assert cycle.start == datetime(2022, 9, 11, 4, tzinfo=UTC)  # 01:00 -03, first after the gap


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("weekly", 8, LJ), "billing_day"),
        (("monthly", 0, LJ), "billing_day"),
        (("monthly", 32, LJ), "billing_day"),
        (("fortnightly", 1, LJ), "interval"),
        (("monthly", 1, "Mars/Olympus"), "time_zone"),
    ],
)
def test_bad_rules_are_refused(args: tuple[str, int, str], field: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        CycleRule(*args)  # type: ignore[arg-type]
    assert refused.value.field == field


ZONES = ["UTC", LJ, "America/New_York", "America/Santiago", "Australia/Lord_Howe", "Asia/Kolkata"]
rules = st.one_of(
    st.builds(CycleRule, st.just("weekly"), st.integers(1, 7), st.sampled_from(ZONES)),
    st.builds(
        CycleRule,
        st.sampled_from(["monthly", "quarterly", "yearly"]),
        st.integers(1, 31),
        st.sampled_from(ZONES),
        st.integers(1, 12),
    ),
)
instants = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(rules, instants)
def test_the_cycle_holds_the_instant_and_the_next_one_follows_it(
    rule: CycleRule, at: datetime
) -> None:
    cycle = cycle_at(rule, at)
    assert at in cycle
    later = next_cycle(rule, cycle)
    assert later.start == cycle.end > cycle.start  # strictly later, nothing in between
    assert cycle_at(rule, cycle.end - timedelta(microseconds=1)) == cycle
    assert cycle_at(rule, cycle.start) == cycle


@settings(max_examples=300, deadline=None)
@given(rules, instants)
def test_every_cycle_starts_on_its_day_at_local_midnight(rule: CycleRule, at: datetime) -> None:
    zone = ZoneInfo(rule.time_zone)
    cycle: Cycle = cycle_at(rule, at)
    start = cycle.start.astimezone(zone)
    if rule.interval == "weekly":
        assert start.isoweekday() == rule.day
    else:
        month_end = ((start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(1)).day
        assert start.day == min(rule.day, month_end)
        months = {"monthly": 1, "quarterly": 3, "yearly": 12}[rule.interval]
        assert (start.month - rule.anchor_month) % months == 0
    if start.time() != time(0):  # only where a DST gap swallowed midnight: the first instant after
        midnight = datetime.combine(start.date(), time(0), tzinfo=zone)
        assert midnight.astimezone(UTC).astimezone(zone).time() != time(0)  # it does not exist
        assert start == midnight.astimezone(UTC).astimezone(zone)
