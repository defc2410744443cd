"""Money and units as people read them (`-0.36 EUR`, `60 s`, `1.5 MiB`) and as scripts read them
(exact decimal strings).

The engine and the stores keep integers of a resource's smallest unit (cents, seconds, bytes);
only the edge that prints turns them into amounts, with `Decimal` built digit by digit, so no
float and no context precision ever rounds a figure on the way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from tarif_catalog import parse_catalog
from tarif_catalog.model import Resource, ServiceType

_BINARY_PREFIXES = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
_SHOWN_DECIMALS = Decimal("0.01")  # of a scaled byte count: "1.5 MiB", "976.56 KiB"


def exact(smallest: int, decimals: int) -> Decimal:
    """`smallest` units of 10**-decimals as an exact Decimal: exact(-36, 2) is -0.36.

    Built from its digits, not by arithmetic, so any size stays exact (the default context
    would round past 28 digits).
    """
    if decimals < 0:
        raise ValueError(f"decimals must be >= 0, got {decimals}")
    digits = tuple(int(d) for d in str(abs(smallest)))
    return Decimal((1 if smallest < 0 else 0, digits, -decimals))


def decimal_text(amount: Decimal) -> str:
    """Plain positional notation, every digit kept: '0.00', '-0.36', '1000000'."""
    return f"{amount:f}"


def show(amount: Decimal, unit: str | None) -> str:
    """An amount with its unit, for people.

    Seconds read `60 s`, events `1 event` / `5 events`, bytes with binary prefixes (`1 GiB`,
    `1.5 MiB`; `~` marks a figure shown to two decimals). Anything else, money included, is the
    exact amount and its unit as written (`-0.36 EUR`, `3 page`); no unit: the bare amount.
    """
    text = decimal_text(amount)
    if not unit:
        return text
    whole = amount == amount.to_integral_value()
    if unit == "second" and whole:
        return f"{text} s"
    if unit == "event" and whole:
        return f"{text} event" if abs(amount) == 1 else f"{text} events"
    if unit == "byte" and whole:
        return _bytes(int(amount))
    return f"{text} {unit}"


def _bytes(count: int) -> str:
    if abs(count) < 1024:
        return f"{count} B"
    scaled = Decimal(count)
    for prefix in _BINARY_PREFIXES:
        scaled /= 1024
        if abs(scaled) < 1024 or prefix == _BINARY_PREFIXES[-1]:
            break
    shown = scaled.quantize(_SHOWN_DECIMALS, rounding=ROUND_HALF_EVEN)
    text = decimal_text(shown).rstrip("0").rstrip(".")
    return f"{'' if shown == scaled else '~'}{text} {prefix}"


@dataclass(frozen=True, slots=True)
class Measure:
    """How one resource's integers read: its unit (a currency code for money) and decimals."""

    unit: str | None
    decimals: int = 0

    def amount(self, smallest: int) -> Decimal:
        return exact(smallest, self.decimals)

    def text(self, smallest: int) -> str:
        """For people: `-0.36 EUR`, `60 s`."""
        return show(self.amount(smallest), self.unit)

    def json(self, smallest: int) -> str:
        """For scripts: the exact decimal string, `-0.36`."""
        return decimal_text(self.amount(smallest))


class Measures:
    """The measures the running catalog gives each resource, service type and currency."""

    def __init__(
        self, resources: Mapping[str, Resource], service_types: Mapping[str, ServiceType]
    ) -> None:
        self._resources = resources
        self._services = service_types

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Measures:
        """Read the resources and service types of a catalog document (validated as the engine
        validates them; tariffs and offers, which may be large, are not parsed)."""
        wanted = {
            k: document[k] for k in ("timezone", "resources", "service_types") if k in document
        }
        parsed = parse_catalog({**wanted, "tariffs": {}})
        return cls(parsed.resources, parsed.service_types)

    def resource(self, name: str, unit: str | None = None) -> Measure:
        """A balance's resource; one the catalog no longer has reads in the unit the engine
        named (its smallest unit, as the engine keeps it)."""
        known = self._resources.get(name)
        if known is not None:
            return Measure(known.unit, known.decimals)
        return Measure(unit or name)

    def service(self, name: str) -> Measure:
        """Usage of a service type is counted in its unit (unknown service: no unit)."""
        known = self._services.get(name)
        return Measure(known.unit if known is not None else None)

    def currency(self, code: str) -> Measure | None:
        """The money resource kept in `code`, if the catalog has one."""
        for resource in self._resources.values():
            if resource.currency == code:
                return Measure(code, resource.decimals)
        return None
