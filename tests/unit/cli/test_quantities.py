"""Money and units as the `tarif` command prints them: exact, whatever the size or decimals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tarif_cli.quantities import Measure, Measures, exact, show
from tests.integration.harness import catalog

CASES = [
    # smallest units, decimals, unit, for people, for scripts
    (-36, 2, "EUR", "-0.36 EUR", "-0.36"),
    (0, 2, "EUR", "0.00 EUR", "0.00"),
    (5, 2, "EUR", "0.05 EUR", "0.05"),
    (-5000, 2, "EUR", "-50.00 EUR", "-50.00"),
    (-36, 0, "JPY", "-36 JPY", "-36"),
    (1000, 0, "JPY", "1000 JPY", "1000"),
    (1234, 3, "KWD", "1.234 KWD", "1.234"),
    (-1, 3, "KWD", "-0.001 KWD", "-0.001"),
    (10, 3, "KWD", "0.010 KWD", "0.010"),
    (2**63 - 1, 2, "EUR", "92233720368547758.07 EUR", "92233720368547758.07"),
    (-(2**63), 2, "EUR", "-92233720368547758.08 EUR", "-92233720368547758.08"),
    (10**40 + 1, 6, "XAU", "10000000000000000000000000000000000.000001 XAU",
     "10000000000000000000000000000000000.000001"),
    (60, 0, "second", "60 s", "60"),
    (-6000, 0, "second", "-6000 s", "-6000"),
    (1, 0, "event", "1 event", "1"),
    (-1, 0, "event", "-1 event", "-1"),
    (5, 0, "event", "5 events", "5"),
    (0, 0, "byte", "0 B", "0"),
    (1023, 0, "byte", "1023 B", "1023"),
    (1024, 0, "byte", "1 KiB", "1024"),
    (1572864, 0, "byte", "1.5 MiB", "1572864"),
    (-1572864, 0, "byte", "-1.5 MiB", "-1572864"),
    (1000000, 0, "byte", "~976.56 KiB", "1000000"),
    (1073741824, 0, "byte", "1 GiB", "1073741824"),
    (5 * 2**40, 0, "byte", "5 TiB", "5497558138880"),
    (2**63 - 1, 0, "byte", "~8 EiB", "9223372036854775807"),
    (3, 0, "page", "3 page", "3"),
    (7, 0, None, "7", "7"),
]  # fmt: skip


@pytest.mark.parametrize(("smallest", "decimals", "unit", "human", "script"), CASES)
def test_amounts_for_people_and_for_scripts(
    smallest: int, decimals: int, unit: str | None, human: str, script: str
) -> None:
    measure = Measure(unit, decimals)
    assert measure.text(smallest) == human
    assert measure.json(smallest) == script


@given(st.integers(min_value=-(10**60), max_value=10**60), st.integers(min_value=0, max_value=9))
def test_exact_never_rounds(smallest: int, decimals: int) -> None:
    amount = exact(smallest, decimals)
    sign, digits, exponent = amount.as_tuple()
    assert (-1) ** sign * int("".join(map(str, digits))) == smallest  # every digit kept
    assert exponent == -decimals  # every decimal of the currency is shown
    text = Measure("EUR", decimals).json(smallest)
    assert "E" not in text
    assert "e" not in text
    assert Decimal(text) == amount


def test_exact_refuses_negative_decimals() -> None:
    with pytest.raises(ValueError, match="decimals"):
        exact(1, -1)


def test_decimal_text_from_the_stores_keeps_its_scale() -> None:
    """Service functions hand back decimal strings (notifications, unrated costs): shown as
    they are, with their unit."""
    assert show(Decimal("1.95"), "EUR") == "1.95 EUR"
    assert show(Decimal("0E-2"), "EUR") == "0.00 EUR"
    assert show(Decimal("1048576"), "byte") == "1 MiB"
    assert show(Decimal("0.5"), "second") == "0.5 second"  # not whole: no symbol that would lie


def test_measures_of_the_catalog() -> None:
    doc = catalog()
    doc["resources"]["KWD"] = {"kind": "money", "currency": "KWD", "decimals": 3}
    measures = Measures.from_document(doc)
    assert measures.resource("EUR") == Measure("EUR", 2)
    assert measures.resource("KWD") == Measure("KWD", 3)
    assert measures.resource("data_bytes") == Measure("byte", 0)
    # a resource the catalog no longer has: the unit the engine named, no decimals invented
    assert measures.resource("gold", "gold") == Measure("gold", 0)
    assert measures.resource("gold") == Measure("gold", 0)
    assert measures.service("voice") == Measure("second", 0)
    assert measures.service("texto") == Measure(None, 0)
    assert measures.currency("KWD") == Measure("KWD", 3)
    assert measures.currency("USD") is None


def test_measures_read_only_what_they_need() -> None:
    """Tariffs and offers (which may hold 100k rates) are not parsed, so not even a broken
    tariff stops a listing."""
    doc = catalog()
    doc["tariffs"] = {"broken": {"service": "nope"}}
    doc["plans"] = {"p": {"tariffs": {"x": "y"}}}
    assert Measures.from_document(doc).resource("EUR") == Measure("EUR", 2)
