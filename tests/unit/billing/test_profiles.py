"""A billing profile row becomes its cycle rule (the one the billing runs and the API use)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tarif_billing.cycles import CycleRule, cycle_at
from tarif_billing.profiles import current_cycle, cycle_rule, period_after
from tarif_common.errors import InvalidRequest

TABLE_ROW = {
    "id": 7,
    "billing_interval": "quarterly",
    "billing_day": 31,
    "anchor_month": 2,
    "time_zone": "Europe/Ljubljana",
}


def test_a_table_row_and_an_api_row_give_the_same_rule() -> None:
    rule = CycleRule("quarterly", 31, "Europe/Ljubljana", 2)
    assert cycle_rule(TABLE_ROW) == rule
    api_row = {k: v for k, v in TABLE_ROW.items() if k != "billing_interval"}
    assert cycle_rule(api_row | {"interval": "quarterly"}) == rule


def test_the_current_cycle_is_the_rules_cycle() -> None:
    at = datetime(2027, 3, 15, 12, tzinfo=UTC)
    cycle = current_cycle(TABLE_ROW, at)
    assert cycle == cycle_at(cycle_rule(TABLE_ROW), at)
    # quarters from February, on the last day: Feb 28 .. May 31 (local midnights)
    assert (cycle.start.isoformat(), cycle.end.isoformat()) == (
        "2027-02-27T23:00:00+00:00",
        "2027-05-30T22:00:00+00:00",
    )


def test_a_rule_that_cannot_be_names_its_field() -> None:
    with pytest.raises(InvalidRequest) as weekly:
        cycle_rule(TABLE_ROW | {"billing_interval": "weekly"})
    assert weekly.value.field == "billing_day"
    with pytest.raises(InvalidRequest) as zone:
        cycle_rule(TABLE_ROW | {"time_zone": "Mars/Olympus"})
    assert zone.value.field == "time_zone"


def test_after_a_change_of_day_one_short_period_brings_billing_onto_the_new_cycle() -> None:
    monthly = {"billing_interval": "monthly", "billing_day": 1, "time_zone": "UTC"}
    billed_until = datetime(2027, 3, 1, tzinfo=UTC)  # the last bill covered February
    assert period_after(monthly, billed_until) == cycle_at(
        cycle_rule(monthly), billed_until
    )  # unchanged: a whole cycle, March
    moved = monthly | {"billing_day": 15}
    short = period_after(moved, billed_until)
    assert (short.start, short.end) == (billed_until, datetime(2027, 3, 15, tzinfo=UTC))
    after = period_after(moved, short.end)
    assert (after.start, after.end) == (short.end, datetime(2027, 4, 15, tzinfo=UTC))
