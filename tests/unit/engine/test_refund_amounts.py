"""A refund's amount in the minor unit of its currency, whatever decimals the request used."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.validation import refund_in_minor_units
from tarif_balances.model import Money, RefundStep
from tarif_catalog.model import ConsumptionOrder, Resource
from tarif_common.errors import InvalidRequest

FIRST = ConsumptionOrder.EARLIEST_EXPIRY
RESOURCES = [
    Resource("voice_seconds", "unit", "second", None, 0, FIRST),
    Resource("EUR", "money", "EUR", "EUR", 2, FIRST),
    Resource("JPY", "money", "JPY", "JPY", 0, FIRST),
]


def step(amount: Money | None) -> RefundStep:
    return RefundStep("386401", "r1", "e1", datetime(2026, 11, 18, tzinfo=UTC), amount)


@pytest.mark.parametrize(
    ("asked", "refunded"),
    [
        (Money("EUR", 1, 0), Money("EUR", 100, 2)),
        (Money("EUR", 150, 2), Money("EUR", 150, 2)),
        (Money("EUR", 1230, 3), Money("EUR", 123, 2)),
        (Money("EUR", 5_000_000, 6), Money("EUR", 500, 2)),
        (Money("JPY", 700, 2), Money("JPY", 7, 0)),
        (Money("USD", 1234, 3), Money("USD", 1234, 3)),  # no such money: the script refuses it
    ],
)
def test_amounts_in_the_currency_minor_unit(asked: Money, refunded: Money) -> None:
    assert refund_in_minor_units(step(asked), RESOURCES).amount == refunded


def test_the_whole_event_stays_the_whole_event() -> None:
    assert refund_in_minor_units(step(None), RESOURCES).amount is None


@pytest.mark.parametrize("asked", [Money("EUR", 1234, 3), Money("JPY", 1, 1)])
def test_a_fraction_of_the_minor_unit_is_refused(asked: Money) -> None:
    with pytest.raises(InvalidRequest) as caught:
        refund_in_minor_units(step(asked), RESOURCES)
    assert caught.value.field == "amount.minor_units"
    assert "amount.decimals" in caught.value.message
