"""Fees on bills: whole cycles, prorated parts, advance and arrears, coupons for their cycles."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tarif_billing.cycles import CycleRule, cycle_at, next_cycle
from tarif_billing.fees import Discount, Purchase, take_fees

RULE = CycleRule("monthly", 1, "UTC")
NOV = datetime(2026, 11, 1, tzinfo=UTC)
DEC = datetime(2026, 12, 1, tzinfo=UTC)
JAN = datetime(2027, 1, 1, tzinfo=UTC)


def purchase(**changes: object) -> Purchase:
    values: dict[str, object] = {
        "id": 1,
        "product": "fee",
        "quantity": 1,
        "charge": "recurring",
        "list_price": Decimal("30.00"),
        "discounts": (Discount("coupon", "TWO", Decimal("3.00")),),
        "created_at": datetime(2026, 11, 16, tzinfo=UTC),
        "cancelled_at": None,
        "billed_through": None,
        "fee_cycles": 0,
    }
    values.update(changes)
    return Purchase(**values)  # type: ignore[arg-type]


def test_advance_bills_the_partial_first_cycle_and_the_next_one() -> None:
    taking = take_fees(
        purchase(),
        RULE,
        advance_until=JAN,
        arrears_until=DEC,
        timing="advance",
        coupon_cycles={"TWO": 2},
        decimals=2,
    )
    assert [(x.kind, x.amount) for x in taking.lines] == [
        ("recurring", Decimal("15.00")),  # 15 of 30 days
        ("discount", Decimal("-1.50")),
        ("recurring", Decimal("30.00")),
        ("discount", Decimal("-3.00")),
    ]
    assert (taking.billed_through, taking.fee_cycles) == (JAN, 2)
    # the coupon's two cycles are used: the next cycle has the fee alone
    later = take_fees(
        purchase(billed_through=JAN, fee_cycles=2),
        RULE,
        advance_until=datetime(2027, 2, 1, tzinfo=UTC),
        arrears_until=JAN,
        timing="advance",
        coupon_cycles={"TWO": 2},
        decimals=2,
    )
    assert [(x.kind, x.amount) for x in later.lines] == [("recurring", Decimal("30.00"))]


def test_arrears_stop_at_the_cancellation_and_nothing_is_charged_twice() -> None:
    cancelled = purchase(
        created_at=NOV, cancelled_at=datetime(2026, 11, 11, tzinfo=UTC), discounts=()
    )
    taking = take_fees(
        cancelled,
        RULE,
        advance_until=JAN,
        arrears_until=DEC,
        timing="arrears",
        coupon_cycles={},
        decimals=2,
    )
    assert [x.amount for x in taking.lines] == [Decimal("10.00")]
    again = take_fees(
        purchase(created_at=NOV, cancelled_at=datetime(2026, 11, 11, tzinfo=UTC),
                 billed_through=taking.billed_through, fee_cycles=1, discounts=()),
        RULE,
        advance_until=JAN,
        arrears_until=DEC,
        timing="arrears",
        coupon_cycles={},
        decimals=2,
    )  # fmt: skip
    assert again.lines == []


def test_a_one_time_fee_is_charged_once() -> None:
    once = purchase(charge="one_off", list_price=Decimal("5.00"), discounts=())
    first = take_fees(
        once, RULE, advance_until=JAN, arrears_until=DEC, timing="advance",
        coupon_cycles={}, decimals=2,
    )  # fmt: skip
    assert [(x.kind, x.amount) for x in first.lines] == [("one_time", Decimal("5.00"))]
    second = take_fees(
        purchase(charge="one_off", list_price=Decimal("5.00"), billed_through=first.billed_through),
        RULE, advance_until=JAN, arrears_until=DEC, timing="advance", coupon_cycles={}, decimals=2,
    )  # fmt: skip
    assert second.lines == []


@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 1)),
    st.integers(min_value=1, max_value=40),
    st.decimals(min_value=0, max_value=1000, places=2),
)
def test_billing_in_steps_charges_each_instant_once(
    start: datetime, steps: int, price: Decimal
) -> None:
    """Taking the fees bill by bill never charges a period twice nor skips one: the charged
    periods tile time from the purchase on, and whole cycles cost the list price."""
    p = purchase(created_at=start.replace(tzinfo=UTC), list_price=price, discounts=())
    cycle = cycle_at(RULE, p.created_at)
    covered: list[tuple[datetime, datetime]] = []
    for _ in range(steps):
        taking = take_fees(
            p, RULE, advance_until=cycle.end, arrears_until=cycle.end, timing="arrears",
            coupon_cycles={}, decimals=2,
        )  # fmt: skip
        covered += [(x.period_start, x.period_end) for x in taking.lines]  # type: ignore[misc]
        for x in taking.lines:
            assert x.period_start is not None
            assert x.period_end is not None
            whole = cycle_at(RULE, x.period_start)
            if (x.period_start, x.period_end) == (whole.start, whole.end):
                assert x.amount == price
        if taking.billed_through is not None:
            p = purchase(
                created_at=p.created_at, list_price=price, discounts=(),
                billed_through=taking.billed_through, fee_cycles=taking.fee_cycles,
            )  # fmt: skip
        cycle = next_cycle(RULE, cycle)
    assert covered[0][0] == p.created_at
    for (_, end), (begin, _) in itertools.pairwise(covered):
        assert end == begin
    assert covered[-1][1] - covered[0][0] <= timedelta(days=31 * steps + 31)
