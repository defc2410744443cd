"""A billing profile's cycle: the one place a profile row becomes a `CycleRule`.

A subscription has no cycle of its own: it is billed on the cycle of its balance group's
billing profile, so the billing runs and the admin API both read the rule from the profile
through `cycle_rule`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from tarif_billing.cycles import Cycle, CycleRule, Interval, cycle_at


def cycle_rule(row: Mapping[str, Any]) -> CycleRule:
    """The cycle rule of a `billing_profiles` row.

    Takes the table's columns (`billing_interval`, `billing_day`, `anchor_month`, `time_zone`)
    or the admin API's answer, where the interval is named `interval`; an asyncpg record does.
    Raises `InvalidRequest` naming the field for a rule that cannot be (weekly day 31, ...).
    """
    interval = row.get("billing_interval") or row.get("interval")
    return CycleRule(
        interval=cast(Interval, interval),
        day=int(row["billing_day"]),
        time_zone=str(row["time_zone"]),
        anchor_month=int(row.get("anchor_month") or 1),
    )


def current_cycle(row: Mapping[str, Any], at: datetime) -> Cycle:
    """The profile's cycle that holds the instant `at` (aware)."""
    return cycle_at(cycle_rule(row), at)


def period_after(row: Mapping[str, Any], billed_until: datetime) -> Cycle:
    """The next period to bill after `billed_until` (the end of the last billed period): up to
    the rule's next cycle boundary. A whole cycle while the rule is unchanged; after the
    profile's rule changed, a shorter period that ends where the new rule's cycles start, so
    nothing is billed twice or skipped. Never longer than one cycle."""
    return Cycle(billed_until, cycle_at(cycle_rule(row), billed_until).end)
