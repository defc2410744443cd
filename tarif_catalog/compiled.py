"""The catalog compiled for rating: from (plan, service, attributes, time) to one `Pricing`.

Selection rules, in order:

1. The service type must exist (`UnknownService`) and every mandatory field must be present and
   non-empty (`MissingRatingField`); the plan must have a tariff for the service (`NoTariff`).
2. The rating key is the value of the service type's `rating_field`, normalised by removing one
   leading "+" or "00"; it must then be ASCII digits (`NoTariff` otherwise). An absent or empty
   optional rating field, or a service type without one, gives the empty key, which only matches
   rates with the empty prefix.
3. The longest rate prefix of the key wins. Among the rates of that prefix, the one whose time
   band contains the event's local time (catalog time zone, wall clock) beats the band-less one.
   If that prefix only has banded rates and none contains the time, the next shorter matching
   prefix is tried; nothing left is `NoTariff`. The parser guarantees at most one match per step.
4. The band is decided once, by the event's (start) time: a whole event or session is rated at
   the rate selected for its start, even if it runs across a band boundary. This keeps a
   session's price fixed while it is reserved and charged in pieces.

For speed and memory with hundreds of thousands of prefixes, each tariff is a plain dict
`prefix -> Pricing` (a single band-less rate) or `prefix -> ((band bitmap | None, Pricing), ...)`
(banded rates first), plus the prefix lengths it holds, probed from the longest length down.
`Pricing` objects are built once per rate and shared by every request.
"""

from __future__ import annotations

import datetime
import math
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass

from tarif_catalog.bands import minute_of_week, week_bitmap
from tarif_catalog.model import Catalog, ConsumptionOrder, Resource, ServiceType, Tariff, Tier
from tarif_catalog.quote import Piece, Quote
from tarif_catalog.quote import Pricing as RatePricing
from tarif_catalog.units import Rounding, UnitPrice, steps_of
from tarif_common.errors import MissingRatingField, NoTariff, UnknownService


@dataclass(frozen=True, slots=True)
class Pricing:
    """Everything charging needs to know about the selected rate; shared, never copied."""

    tariff_id: str
    rate_id: str
    service: str
    money_resource: str
    currency: str
    decimals: int
    money_order: ConsumptionOrder
    free_resources: tuple[tuple[str, ConsumptionOrder], ...]
    connect_fee_micros: int
    first_increment: int
    next_increment: int
    tiers: tuple[Tier, ...]

    def __hash__(self) -> int:
        # Callers cache per rate (e.g. its serialised form); hashing the cached id string is far
        # cheaper than the generated field-by-field hash, and equal pricings share the id.
        return hash(self.rate_id)


_Entries = tuple[tuple[bytes | None, Pricing], ...]
# A prefix with one band-less rate (nearly all of them) maps straight to its Pricing.
_Slot = Pricing | _Entries


class _CompiledTariff:
    __slots__ = ("lengths", "table")

    def __init__(self, table: dict[str, _Slot]) -> None:
        self.table = table
        self.lengths = tuple(sorted({len(prefix) for prefix in table}, reverse=True))


class CompiledCatalog:
    """Immutable, thread-safe lookup structure built once per catalog version."""

    __slots__ = ("_catalog", "_plans", "_quotes", "_zone")

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._zone = zoneinfo.ZoneInfo(catalog.timezone)
        bitmaps = {name: week_bitmap(band) for name, band in catalog.time_bands.items()}
        tariffs = {
            tariff_id: _compile_tariff(catalog, tariff, bitmaps)
            for tariff_id, tariff in catalog.tariffs.items()
        }
        self._plans = {
            plan_id: {service: tariffs[tariff_id] for service, tariff_id in plan.tariffs.items()}
            for plan_id, plan in catalog.plans.items()
        }
        self._quotes: dict[str, RatePricing] = {}
        for tariff in catalog.tariffs.values():
            scale = math.lcm(*(tier.per_units for rate in tariff.rates for tier in rate.tiers))
            money = catalog.resources[tariff.money_resource]
            assert money.currency is not None
            free = tuple(
                (name, catalog.resources[name].order)
                for name in catalog.service_types[tariff.service].free_resources
            )
            for rate in tariff.rates:
                self._quotes[rate.id] = RatePricing(
                    tariff_id=tariff.id,
                    service=tariff.service,
                    money_resource=money.name,
                    currency=money.currency,
                    decimals=money.decimals,
                    money_order=money.order,
                    free_resources=free,
                    band=rate.band,
                    connect_fee=rate.connect_fee_micros * scale,
                    steps=steps_of(rate.first_increment, rate.next_increment),
                    prices=tuple(
                        UnitPrice(t.up_to, t.price_micros * (scale // t.per_units))
                        for t in rate.tiers
                    ),
                    scale=scale,
                    rounding_decimals=money.decimals,
                    rounding=Rounding.UP,
                    max_cost=None,
                    disconnect=False,
                )

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The catalog time zone that time bands are read in."""
        return self._zone

    def service_type(self, name: str) -> ServiceType:
        """The service type `name`, or `UnknownService`."""
        service_type = self._catalog.service_types.get(name)
        if service_type is None:
            raise UnknownService(f"unknown service type {name!r}")
        return service_type

    def resource(self, name: str) -> Resource:
        """The resource `name`; a `KeyError` means the caller holds a stale resource name."""
        resource = self._catalog.resources.get(name)
        if resource is None:
            raise KeyError(f"unknown resource {name!r}")
        return resource

    def quote(
        self,
        plan_id: str,
        service: str,
        attributes: Mapping[str, str],
        event_time: datetime.datetime,
        units: int = 0,
    ) -> Quote:
        """The pieces of a call starting at `event_time` of up to `units` units (0 for a
        session, whose length is not known: its pieces then cover a horizon).

        Interim: one piece, the rate at the start (time-band splitting comes with the new
        selection).
        """
        old = self.price(plan_id, service, attributes, event_time)
        prefix = old.rate_id.split(":")[1]
        return Quote((Piece(0, "" if prefix == "*" else prefix, self._quotes[old.rate_id]),))

    def price(
        self,
        plan_id: str,
        service: str,
        attributes: Mapping[str, str],
        event_time: datetime.datetime,
    ) -> Pricing:
        """Select the rate for one event or session start (rules in the module docstring).

        `event_time` must be timezone-aware; it is converted to the catalog time zone only when a
        banded rate has to be checked.
        """
        service_type = self._catalog.service_types.get(service)
        if service_type is None:
            raise UnknownService(f"unknown service type {service!r}")
        for field in service_type.mandatory:
            if not attributes.get(field):
                raise MissingRatingField(f"missing rating field {field!r} for service {service!r}")
        if event_time.tzinfo is None:
            raise ValueError("event_time must be timezone-aware")
        plan = self._plans.get(plan_id)
        if plan is None:
            raise NoTariff(f"unknown plan {plan_id!r}")
        tariff = plan.get(service)
        if tariff is None:
            raise NoTariff(f"plan {plan_id!r} has no tariff for service {service!r}")
        key = ""
        rating_field = service_type.rating_field
        if rating_field is not None:
            raw = attributes.get(rating_field)
            if raw:
                if raw[0] == "+":
                    key = raw[1:]
                elif raw.startswith("00"):
                    key = raw[2:]
                else:
                    key = raw
                if not (key.isdigit() and key.isascii()):
                    raise NoTariff(
                        f"{rating_field} {raw!r} is not a number (digits, optional + or 00)"
                    )
        size = len(key)
        table = tariff.table
        minute = -1
        for length in tariff.lengths:
            if length > size:
                continue
            slot = table.get(key[:length])
            if slot is None:
                continue
            if isinstance(slot, Pricing):
                return slot
            for bits, pricing in slot:
                if bits is None:
                    return pricing
                if minute < 0:
                    minute = minute_of_week(event_time.astimezone(self._zone))
                if bits[minute]:
                    return pricing
        raise NoTariff(f"no rate of plan {plan_id!r} for service {service!r} matches {key!r}")


def _compile_tariff(
    catalog: Catalog, tariff: Tariff, bitmaps: Mapping[str, bytes]
) -> _CompiledTariff:
    money = catalog.resources[tariff.money_resource]
    assert money.currency is not None
    free = tuple(
        (name, catalog.resources[name].order)
        for name in catalog.service_types[tariff.service].free_resources
    )
    grouped: dict[str, list[tuple[bytes | None, Pricing]]] = {}
    for rate in tariff.rates:
        pricing = Pricing(
            tariff_id=tariff.id,
            rate_id=rate.id,
            service=tariff.service,
            money_resource=money.name,
            currency=money.currency,
            decimals=money.decimals,
            money_order=money.order,
            free_resources=free,
            connect_fee_micros=rate.connect_fee_micros,
            first_increment=rate.first_increment,
            next_increment=rate.next_increment,
            tiers=rate.tiers,
        )
        bits = None if rate.band is None else bitmaps[rate.band]
        grouped.setdefault(rate.prefix, []).append((bits, pricing))
    table: dict[str, _Slot] = {}
    for prefix, entries in grouped.items():
        if len(entries) == 1 and entries[0][0] is None:
            table[prefix] = entries[0][1]
        else:
            # Banded rates first, so the first entry that matches the time is the one to use.
            table[prefix] = tuple(sorted(entries, key=lambda entry: entry[0] is None))
    return _CompiledTariff(table)
