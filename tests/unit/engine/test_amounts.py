"""Document amounts become exact integers of the resource's smallest unit, never rounded."""

from __future__ import annotations

import pytest

from tarif_catalog.amounts import to_units
from tarif_common.errors import ProvisioningError


@pytest.mark.parametrize(
    ("value", "decimals", "units"),
    [
        ("10.00", 2, 1000),
        (5, 2, 500),
        ("0.05", 2, 5),
        ("-7.50", 2, -750),
        ("1200", 0, 1200),
        ("12.5", 6, 12_500_000),
    ],
)
def test_exact_amounts(value: str | int, decimals: int, units: int) -> None:
    assert to_units(value, decimals, "x") == units


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1.005", "more than 2 decimals"),
        ("abc", "not a number"),
        ("Infinity", "decimals"),
        ("NaN", "decimals"),
    ],
)
def test_refused(value: str, message: str) -> None:
    with pytest.raises(ProvisioningError, match=message):
        to_units(value, 2, "balances[0].amount")
