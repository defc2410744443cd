"""The product catalog as immutable values.

Everything here is already validated by `tarif_catalog.parse` and carries money as integer
micro-units (1/1,000,000 of the currency), so no rounding can happen before the single rounding
of a call in `tarif_catalog.units.to_currency`. Instances are frozen and the mappings are
read-only views, so one catalog can be shared by every request without copying or locking.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from tarif_catalog.commercial import Offer, Product
from tarif_catalog.units import Rounding, Step

ResourceKind = Literal["money", "unit"]

MICROS_PER_UNIT = 1_000_000
"""Money amounts are integers of 1/1,000,000 of the currency (micro-units)."""


class ConsumptionOrder(StrEnum):
    """Which of a subscriber's buckets of one resource is drawn first."""

    EARLIEST_EXPIRY = "earliest_expiry"
    PRIORITY = "priority"


@dataclass(frozen=True, slots=True)
class Resource:
    """Something a balance is kept in: money (in `currency`) or units (of `unit`).

    For money, `unit` is the currency code and balances are kept in the currency's minor unit
    (`decimals` digits after the point, e.g. cents for EUR, yen for JPY). Unit resources always
    have `decimals == 0` and `currency is None`.
    """

    name: str
    kind: ResourceKind
    unit: str
    currency: str | None
    decimals: int
    order: ConsumptionOrder


@dataclass(frozen=True, slots=True)
class ServiceType:
    """A kind of usage (voice, data, sms) and the request fields it needs.

    `rating_field` names the attribute whose normalised value (`tarif_catalog.destinations`)
    selects a rate by prefix; `None` means the service is rated without a destination and only
    rates with the empty prefix apply. Calls of a service whose unit is `second` are split at
    time-band changes.
    `free_resources` are unit resources of the same `unit`, drawn in the listed order before money.
    """

    name: str
    unit: str
    rating_field: str | None
    mandatory: tuple[str, ...]
    optional: tuple[str, ...]
    free_resources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TimeBand:
    """A recurring window of local (wall-clock) time, on the days its date rules select.

    The window starts at `start` on each selected day and runs until `end`; `end <= start` means
    it wraps past midnight into the next day (so 22:00-06:00 on Friday runs until Saturday
    06:00); an end of "24:00" is stored as `time(0, 0)`, which by that rule means "until
    midnight", and `start == end` means a full 24 hours.

    A day is selected when every rule given matches it: `days` (weekdays, 0 = Monday; all seven
    when absent), `dates` (calendar dates, e.g. holidays), `days_of_month` (1-31) and `months`
    (1-12). A band with any date rule is *dated*. Among the bands of one destination that
    contain a time, the highest `priority` wins (default 10 for a weekly band, 20 for a dated
    one, so a holiday beats the weekday bands); the band-less rate is the fallback. `timezone`
    (IANA name) is the band's own, or None for the catalog's.
    """

    name: str
    days: frozenset[int]
    start: datetime.time
    end: datetime.time
    dates: frozenset[datetime.date] = frozenset()
    days_of_month: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    priority: int = 10
    timezone: str | None = None

    @property
    def dated(self) -> bool:
        return bool(self.dates or self.days_of_month or self.months)

    def starts_on(self, day: datetime.date) -> bool:
        """Whether the window starts on local date `day`."""
        return (
            day.weekday() in self.days
            and (not self.dates or day in self.dates)
            and (not self.days_of_month or day.day in self.days_of_month)
            and (not self.months or day.month in self.months)
        )


@dataclass(frozen=True, slots=True)
class Tier:
    """`price_micros` per `per_units` units, for the call's offsets below `up_to` (None: open).

    Offsets count the call's rated units from its start, whether free units or money pay them.
    """

    up_to: int | None
    price_micros: int
    per_units: int


@dataclass(frozen=True, slots=True)
class RateTerms:
    """What a rate charges, shared by every prefix (and band) with the same terms."""

    connect_fee_micros: int
    steps: tuple[Step, ...]
    tiers: tuple[Tier, ...]
    max_cost_micros: int | None = None  # per call; None: no cap
    disconnect: bool = False  # at the cap: the call stops (True) or the rest is free


@dataclass(frozen=True, slots=True)
class Rate:
    """One priced destination prefix of a tariff, optionally limited to a time band (a view of
    the tariff's table, built on demand).

    `id` is `"<tariff>:<prefix>[:<band>]"`, with `*` standing for the empty prefix.
    """

    id: str
    prefix: str
    band: str | None
    terms: RateTerms


Slot = RateTerms | tuple[tuple[str | None, RateTerms], ...]
"""A prefix's rates: its one band-less rate, or (band, terms) entries in the order they are
tried (highest band priority first, the band-less rate last)."""


class BandMode(StrEnum):
    """How a call that crosses a time band is rated."""

    SPLIT = "split"  # each part at the rate of its band (time-based services only)
    START = "start"  # the whole call at the rate in force when it starts


@dataclass(frozen=True, slots=True)
class Tariff:
    """The rates of one service, charged to one money resource.

    `table` maps each normalised destination prefix to its rates; a catalog with hundreds of
    thousands of prefixes keeps one string and one dict entry per prefix, the terms shared.
    """

    id: str
    service: str
    money_resource: str
    table: Mapping[str, Slot]
    rounding: Rounding = Rounding.UP
    rounding_decimals: int | None = None  # None: the currency's decimals
    bands: BandMode = BandMode.SPLIT
    scale: int = 1  # least common multiple of the rates' `per` values: prices are exact in
    # 1/scale micro-units per unit

    @property
    def rates(self) -> tuple[Rate, ...]:
        """Every rate, prefix by prefix (built on each call: for admin views and tests)."""
        rates: list[Rate] = []
        for prefix, slot in self.table.items():
            entries = ((None, slot),) if isinstance(slot, RateTerms) else slot
            for band, terms in entries:
                rates.append(Rate(rate_id(self.id, prefix, band), prefix, band, terms))
        return tuple(rates)


@dataclass(frozen=True, slots=True)
class Plan:
    """What a subscriber is on: the tariff used for each service (service name -> tariff id).

    `bundles` names the bundles (`Catalog.bundles`) the plan includes, in catalog order.
    """

    id: str
    tariffs: Mapping[str, str]
    bundles: tuple[str, ...] = ()


class ThresholdBasis(StrEnum):
    """What a threshold's value is measured against."""

    ABSOLUTE = "absolute"  # a level of the resource (decimal string for money, units otherwise)
    PERCENT_OF_INITIAL = "percent_of_initial"  # share of the provisioned amount consumed
    PERCENT_OF_LIMIT = "percent_of_limit"  # share of the credit limit used (postpaid money)


class Direction(StrEnum):
    FALLING = "falling"  # the resource's level goes down through the threshold (consumption)
    RISING = "rising"  # the level goes up through it (a refund, a top-up seen by a charge)


@dataclass(frozen=True, slots=True)
class Threshold:
    """One notification point of a credit profile.

    `value` is in the resource's smallest unit for `absolute` (minor units for money) and a
    percentage (0-100) otherwise; `type` names the notification (e.g. `credit_low`) and
    `channels` the ways the customer is told (email, sms, webhook).
    """

    id: str
    resource: str
    basis: ThresholdBasis
    value: int
    direction: Direction
    type: str
    channels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CreditProfile:
    name: str
    thresholds: tuple[Threshold, ...]


@dataclass(frozen=True, slots=True)
class Catalog:
    """The whole validated catalog; every mapping is keyed by the object's name or id."""

    timezone: str
    resources: Mapping[str, Resource]
    service_types: Mapping[str, ServiceType]
    time_bands: Mapping[str, TimeBand]
    tariffs: Mapping[str, Tariff]
    plans: Mapping[str, Plan]
    credit_profiles: Mapping[str, CreditProfile] = field(
        default_factory=lambda: MappingProxyType({})
    )
    products: Mapping[str, Product] = field(default_factory=lambda: MappingProxyType({}))
    bundles: Mapping[str, Offer] = field(default_factory=lambda: MappingProxyType({}))
    packs: Mapping[str, Offer] = field(default_factory=lambda: MappingProxyType({}))


def rate_id(tariff: str, prefix: str, band: str | None) -> str:
    """The stable id of a rate, as recorded on every charge (`*` for the empty prefix)."""
    rid = f"{tariff}:{prefix or '*'}"
    return f"{rid}:{band}" if band else rid


def currency_decimals(resources: Mapping[str, Resource], currency: str) -> int:
    """Decimals of the money resource kept in `currency` (0 if the catalog has none)."""
    for resource in resources.values():
        if resource.currency == currency:
            return resource.decimals
    return 0
