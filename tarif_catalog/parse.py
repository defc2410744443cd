"""Validate a catalog document (parsed YAML/JSON) into an immutable `Catalog`.

Every problem is reported as `CatalogError(path, reason)`, the path written like
`tariffs.voice-std.rates[2].price`, so an operator can find the offending line. Validation is
complete here so that rating never meets a dangling reference or an ambiguous rate:

- unknown keys are rejected (a typo must not silently fall back to a default);
- money is a decimal string (or an integer) with at most 6 decimals, never a float;
- references resolve: free resources are unit resources of the service's unit, a tariff's
  `currency` is a money resource, rate bands and plan tariffs exist and match;
- prefixes are normalised (`tarif_catalog.destinations`) and one tariff holds at most one rate
  per (prefix, band); per prefix, no two bands of the same priority can hold the same time, so
  at most one rate can ever match a given destination and time.

Shape (only `timezone`, `resources`, `service_types` and `tariffs` required; defaults: resource
`order: earliest_expiry`, band `days`: all week, band `priority`: 10, or 20 with a date rule,
tariff `rounding: {method: up, decimals: <the currency's>}` and `bands: split`, rate
`increment: [1, 1]`, `per: 1`, `connect_fee: "0"`, no `max_cost`, plan `bundles`: none):

    timezone: Europe/Ljubljana
    resources:
      EUR: {kind: money, currency: EUR, decimals: 2, order: earliest_expiry}
      voice_seconds: {kind: unit, unit: second, order: priority}
    service_types:
      voice: {unit: second, rating_field: destination, mandatory: [destination],
              optional: [origin], free_resources: [voice_seconds]}
    time_bands:
      peak: {days: [mon, tue, wed, thu, fri], from: "08:00", to: "20:00"}
      holidays: {dates: ["2026-12-25", "2027-01-01"], from: "00:00", to: "24:00"}
      summer: {months: [jul, aug], days_of_month: [1, 15], from: "18:00", to: "22:00",
               priority: 30, timezone: Europe/Rome}
    tariffs:
      voice-std:
        service: voice
        currency: EUR
        rounding: {method: half_up, decimals: 4}   # up | half_up | half_even | down
        bands: split                               # or start: a call at its start band
        rates:
          - {prefix: "386", band: peak, price: "0.05", per: 60, increment: [1, 1]}
          - {prefixes: ["+44", "sip:support@example.com"], price: "0.10", per: 60,
             max_cost: "2.00", max_cost_action: free}          # or disconnect
          - {prefix: "1", price: "0.10", per: 60,
             increment: [{from: 0, step: 1}, {from: 30, step: 60}]}
          - {prefix: "", connect_fee: "0.10", increment: [60, 60],
             tiers: [{up_to: 600, price: "0.10", per: 60}, {price: "0.05", per: 60}]}
    plans:
      basic: {tariffs: {voice: voice-std}}   # and optionally `bundles: [<bundle>, ...]`

A tier's `up_to` and an increment step's `from` are offsets of the call (its rated units from
the start, free or paid). The `per` values of one tariff must have a least common multiple of
at most `MAX_SCALE`. docs/rating.md has the rules in full.

The commercial sections (`products`, `bundles` with discounts, option `packs`) are described and
parsed in `tarif_catalog.offers`; `credit_profiles` in `tarif_catalog.credit_profiles`. A plan's
`bundles` must name bundles, and a pack's `plans` must name plans.
"""

from __future__ import annotations

import datetime
import math
import re
import zoneinfo
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from tarif_catalog import _fields as f
from tarif_catalog.bands import (
    MINUTES_PER_DAY,
    could_share_a_day,
    overlaps,
    week_bitmap,
    window,
    windows_overlap,
)
from tarif_catalog.credit_profiles import parse_credit_profiles
from tarif_catalog.destinations import destination_key
from tarif_catalog.model import (
    BandMode,
    Catalog,
    ConsumptionOrder,
    Plan,
    RateTerms,
    Resource,
    ServiceType,
    Slot,
    Tariff,
    Tier,
    TimeBand,
)
from tarif_catalog.offers import Offer, parse_offers, parse_products
from tarif_catalog.units import Rounding, Step, steps_of
from tarif_common.errors import CatalogError

_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_CURRENCY = re.compile(r"[A-Z]{3}")
_MONTHS = {
    name: i + 1
    for i, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_E = TypeVar("_E", Rounding, BandMode)
MAX_PREFIX = 64
MAX_SCALE = 10_000_000
"""The least common multiple of one tariff's `per` values is at most this, so exact prices stay
far below 2**53 in the charging scripts."""
_RATE_KEYS = (
    "prefix", "prefixes", "band", "price", "per", "tiers", "increment", "connect_fee",
    "max_cost", "max_cost_action",
)  # fmt: skip
_RATE_KEY_SET = frozenset(_RATE_KEYS)
_SELECTORS = frozenset(("prefix", "prefixes", "band"))


def parse_catalog(doc: Mapping[str, Any]) -> Catalog:
    """Validate `doc` (shape in the module docstring) and build the `Catalog`."""
    if not isinstance(doc, Mapping):
        raise CatalogError("$", f"expected a mapping, got {f.describe(doc)}")
    return _Parser().catalog(f.mapping(doc, ""))


class _Parser:
    """Holds what later sections refer to while the document is walked top-down."""

    def __init__(self) -> None:
        self.resources: dict[str, Resource] = {}
        self.service_types: dict[str, ServiceType] = {}
        self.bands: dict[str, TimeBand] = {}
        self.bitmaps: dict[str, bytes] = {}
        self.band_overlap: dict[tuple[str, str], bool] = {}
        self.tariffs: dict[str, Tariff] = {}
        self.bundles: dict[str, Offer] = {}
        # Large catalogs repeat a few prices over many prefixes: rate entries written alike are
        # parsed once, and equal terms are one shared object.
        self.terms_cache: dict[tuple[tuple[str, str | int], ...], RateTerms] = {}
        self.terms_by_value: dict[RateTerms, RateTerms] = {}

    def catalog(self, root: Mapping[str, Any]) -> Catalog:
        f.keys(
            root,
            "",
            ("timezone", "resources", "service_types", "tariffs"),
            ("time_bands", "plans", "credit_profiles", "products", "bundles", "packs"),
        )
        timezone = _timezone(root["timezone"], "timezone")
        for key, value in f.mapping(root["resources"], "resources").items():
            self.resources[key] = _resource(key, value, f.at("resources", key))
        for key, value in f.mapping(root["service_types"], "service_types").items():
            self.service_types[key] = self.service_type(key, value, f.at("service_types", key))
        for key, value in f.mapping(root.get("time_bands", {}), "time_bands").items():
            self.bands[key] = _time_band(key, value, f.at("time_bands", key))
            if not self.bands[key].dated:
                self.bitmaps[key] = week_bitmap(self.bands[key])
        for key, value in f.mapping(root["tariffs"], "tariffs").items():
            self.tariffs[key] = self.tariff(key, value, f.at("tariffs", key))
        products = parse_products(root.get("products", {}), self.resources, self.service_types)
        self.bundles = parse_offers(root.get("bundles", {}), "bundles", products)
        plans = {
            key: self.plan(key, value, f.at("plans", key))
            for key, value in f.mapping(root.get("plans", {}), "plans").items()
        }
        packs = parse_offers(root.get("packs", {}), "packs", products, plans=plans)
        return Catalog(
            timezone=timezone,
            resources=MappingProxyType(self.resources),
            service_types=MappingProxyType(self.service_types),
            time_bands=MappingProxyType(self.bands),
            tariffs=MappingProxyType(self.tariffs),
            plans=MappingProxyType(plans),
            credit_profiles=MappingProxyType(
                parse_credit_profiles(root.get("credit_profiles", {}), self.resources)
            ),
            products=MappingProxyType(products),
            bundles=MappingProxyType(self.bundles),
            packs=MappingProxyType(packs),
        )

    def service_type(self, key: str, value: Any, path: str) -> ServiceType:
        name = f.key_name(key, "service_types")
        m = f.mapping(value, path)
        f.keys(m, path, ("unit",), ("rating_field", "mandatory", "optional", "free_resources"))
        unit = f.name(m["unit"], f.at(path, "unit"))
        raw_field = m.get("rating_field")
        rating_field = None if raw_field is None else f.name(raw_field, f.at(path, "rating_field"))
        mandatory = f.names(m.get("mandatory", []), f.at(path, "mandatory"))
        optional = f.names(m.get("optional", []), f.at(path, "optional"))
        for i, field in enumerate(optional):
            if field in mandatory:
                raise CatalogError(f.at(f.at(path, "optional"), i), f"{field!r} is also mandatory")
        if rating_field is not None and rating_field not in mandatory + optional:
            raise CatalogError(
                f.at(path, "rating_field"),
                f"{rating_field!r} must be listed in mandatory or optional",
            )
        free_path = f.at(path, "free_resources")
        free = f.names(m.get("free_resources", []), free_path)
        for i, resource_name in enumerate(free):
            resource = self.resources.get(resource_name)
            if resource is None:
                raise CatalogError(f.at(free_path, i), f"unknown resource {resource_name!r}")
            if resource.kind != "unit" or resource.unit != unit:
                raise CatalogError(
                    f.at(free_path, i),
                    f"{resource_name!r} must be a unit resource of unit {unit!r} "
                    f"(it is a {resource.kind} resource of {resource.unit!r})",
                )
        return ServiceType(name, unit, rating_field, mandatory, optional, free)

    def tariff(self, key: str, value: Any, path: str) -> Tariff:
        name = f.key_name(key, "tariffs")
        m = f.mapping(value, path)
        f.keys(m, path, ("service", "currency", "rates"), ("rounding", "bands"))
        service = f.name(m["service"], f.at(path, "service"))
        service_type = self.service_types.get(service)
        if service_type is None:
            raise CatalogError(f.at(path, "service"), f"unknown service type {service!r}")
        currency = f.name(m["currency"], f.at(path, "currency"))
        resource = self.resources.get(currency)
        if resource is None or resource.kind != "money":
            raise CatalogError(f.at(path, "currency"), f"{currency!r} is not a money resource")
        method, decimals = _rounding(m.get("rounding"), f.at(path, "rounding"))
        mode = _choice(m.get("bands", BandMode.SPLIT.value), f.at(path, "bands"), BandMode)
        rates_path = f.at(path, "rates")
        raw_rates = f.sequence(m["rates"], rates_path)
        if not raw_rates:
            raise CatalogError(rates_path, "a tariff needs at least one rate")
        # prefix -> (band, terms, index of the rate) or a list of them; paths are only built
        # for an error (a catalog may hold hundreds of thousands of rates)
        grouped: dict[str, Any] = {}
        used: dict[int, RateTerms] = {}
        no_field = service_type.rating_field is None
        for i, raw in enumerate(raw_rates):
            prefixes, band, terms = self.rate(raw, rates_path, i)
            used[id(terms)] = terms
            for prefix in prefixes:
                if prefix and no_field:
                    raise CatalogError(
                        f.at(f.at(rates_path, i), "prefix" if "prefix" in raw else "prefixes"),
                        f'service {service!r} has no rating_field, so only prefix "" can match',
                    )
                entry = (band, terms, i)
                found = grouped.get(prefix)
                if found is None:
                    grouped[prefix] = entry
                    continue
                entries = [found] if isinstance(found, tuple) else found
                for other, _, j in entries:
                    if other == band:
                        raise CatalogError(
                            f.at(rates_path, i),
                            f"duplicate rate for prefix {prefix!r} and band {band!r} "
                            f"(same as rates[{j}])",
                        )
                    if band is not None and other is not None and self.overlap(band, other):
                        raise CatalogError(
                            f.at(f.at(rates_path, i), "band"),
                            f"band {band!r} overlaps band {other!r} of rates[{j}] "
                            f"for prefix {prefix!r} at the same priority; the rate would be "
                            "ambiguous",
                        )
                entries.append(entry)
                grouped[prefix] = entries
        pers = {tier.per_units for terms in used.values() for tier in terms.tiers}
        scale = math.lcm(*pers)
        if scale > MAX_SCALE:
            raise CatalogError(
                rates_path,
                f"the per values {sorted(pers)} have a least common multiple of {scale}, above "
                f"{MAX_SCALE}: use per values that divide one another",
            )
        table: dict[str, Slot] = {}
        for prefix, found in grouped.items():
            if isinstance(found, tuple) and found[0] is None:
                table[prefix] = found[1]
            else:
                entries = [found] if isinstance(found, tuple) else found
                ordered = sorted(entries, key=lambda e: self._rank(e[0]))
                table[prefix] = tuple((band, terms) for band, terms, _ in ordered)
        return Tariff(
            name,
            service,
            currency,
            MappingProxyType(table),
            method,
            decimals,
            mode,
            scale,
        )

    def _rank(self, band: str | None) -> tuple[int, str]:
        """Sort key of a prefix's rates: highest band priority first, the band-less one last."""
        if band is None:
            return (1, "")
        return (-self.bands[band].priority, band)

    def rate(
        self, value: Any, rates_path: str, index: int
    ) -> tuple[list[str], str | None, RateTerms]:
        """One rate entry: its normalised prefixes, band and shared terms."""
        if not isinstance(value, Mapping):
            f.mapping(value, f.at(rates_path, index))  # raises
        m: Mapping[str, Any] = value
        if not m.keys() <= _RATE_KEY_SET or ("prefix" in m) == ("prefixes" in m):
            path = f.at(rates_path, index)
            if "prefix" not in m and "prefixes" not in m:
                raise CatalogError(f.at(path, "prefix"), "required key is missing")
            if "prefix" in m and "prefixes" in m:
                raise CatalogError(path, "give either prefix or prefixes")
            f.keys(m, path, (), _RATE_KEYS)
        raw = m.get("prefix")
        if raw is not None:
            if (
                type(raw) is str
                and raw.isdigit()
                and raw.isascii()
                and len(raw) <= MAX_PREFIX
                and raw[:2] != "00"
            ):
                prefixes = [raw]
            else:
                prefixes = [_prefix(raw, f.at(f.at(rates_path, index), "prefix"))]
        else:
            prefixes = self.prefixes(m["prefixes"], f.at(f.at(rates_path, index), "prefixes"))
        band = m.get("band")
        if band is not None and band not in self.bands:
            where = f.at(f.at(rates_path, index), "band")
            band = f.name(band, where)
            raise CatalogError(where, f"unknown time band {band!r}")
        key = tuple(
            (k, v if type(v) is str or type(v) is int else repr(v))
            for k, v in m.items()
            if k not in _SELECTORS
        )
        terms = self.terms_cache.get(key)
        if terms is None:
            terms = _terms(m, f.at(rates_path, index))
            terms = self.terms_cache.setdefault(key, self.terms_by_value.setdefault(terms, terms))
        return prefixes, band, terms

    def prefixes(self, value: Any, path: str) -> list[str]:
        listed = f.sequence(value, path)
        if not listed:
            raise CatalogError(path, "needs at least one prefix")
        seen: set[str] = set()
        prefixes = []
        for i, raw in enumerate(listed):
            prefix = _prefix(raw, f.at(path, i))
            if prefix in seen:
                raise CatalogError(f.at(path, i), f"{raw!r} is listed twice (as {prefix!r})")
            seen.add(prefix)
            prefixes.append(prefix)
        return prefixes

    def overlap(self, a: str, b: str) -> bool:
        """Whether two bands of one prefix, at the same priority, can hold the same time."""
        pair = (a, b) if a <= b else (b, a)
        if pair not in self.band_overlap:
            band_a, band_b = self.bands[a], self.bands[b]
            if band_a.priority != band_b.priority:
                clash = False
            elif band_a.dated or band_b.dated:
                clash = _dated_overlap(band_a, band_b)
            else:
                clash = overlaps(self.bitmaps[a], self.bitmaps[b])
            self.band_overlap[pair] = clash
        return self.band_overlap[pair]

    def plan(self, key: str, value: Any, path: str) -> Plan:
        name = f.key_name(key, "plans")
        m = f.mapping(value, path)
        f.keys(m, path, ("tariffs",), ("bundles",))
        tariffs_path = f.at(path, "tariffs")
        tariffs: dict[str, str] = {}
        for service, raw in f.mapping(m["tariffs"], tariffs_path).items():
            entry = f.at(tariffs_path, service)
            if service not in self.service_types:
                raise CatalogError(entry, f"unknown service type {service!r}")
            tariff_name = f.name(raw, entry)
            tariff = self.tariffs.get(tariff_name)
            if tariff is None:
                raise CatalogError(entry, f"unknown tariff {tariff_name!r}")
            if tariff.service != service:
                raise CatalogError(
                    entry, f"tariff {tariff_name!r} rates {tariff.service!r}, not {service!r}"
                )
            tariffs[service] = tariff_name
        bundles_path = f.at(path, "bundles")
        bundles = f.names(m.get("bundles", []), bundles_path)
        for i, bundle in enumerate(bundles):
            if bundle not in self.bundles:
                raise CatalogError(f.at(bundles_path, i), f"unknown bundle {bundle!r}")
        return Plan(name, MappingProxyType(tariffs), bundles)


def _timezone(value: Any, path: str) -> str:
    name = f.string(value, path)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise CatalogError(path, f"unknown time zone {name!r} (use an IANA name)") from None
    return name


def _resource(key: str, value: Any, path: str) -> Resource:
    name = f.key_name(key, "resources")
    m = f.mapping(value, path)
    kind = m.get("kind")
    if kind == "money":
        f.keys(m, path, ("kind", "currency", "decimals"), ("order",))
        currency = f.string(m["currency"], f.at(path, "currency"))
        if not _CURRENCY.fullmatch(currency):
            raise CatalogError(f.at(path, "currency"), f"{currency!r} is not an ISO 4217 code")
        decimals = f.integer(m["decimals"], f.at(path, "decimals"), 0, 6)
        unit, resource_currency = currency, currency
    elif kind == "unit":
        f.keys(m, path, ("kind", "unit"), ("order",))
        unit, resource_currency, decimals = f.name(m["unit"], f.at(path, "unit")), None, 0
    elif kind is None:
        raise CatalogError(f.at(path, "kind"), "required key is missing")
    else:
        raise CatalogError(f.at(path, "kind"), f"must be 'money' or 'unit', got {kind!r}")
    order = _order(m.get("order", ConsumptionOrder.EARLIEST_EXPIRY.value), f.at(path, "order"))
    return Resource(name, kind, unit, resource_currency, decimals, order)


def _order(value: Any, path: str) -> ConsumptionOrder:
    text = f.string(value, path)
    try:
        return ConsumptionOrder(text)
    except ValueError:
        allowed = ", ".join(o.value for o in ConsumptionOrder)
        raise CatalogError(path, f"{text!r} is not one of {allowed}") from None


def _time_band(key: str, value: Any, path: str) -> TimeBand:
    name = f.key_name(key, "time_bands")
    m = f.mapping(value, path)
    f.keys(
        m,
        path,
        ("from", "to"),
        ("days", "dates", "days_of_month", "months", "priority", "timezone"),
    )
    days_path = f.at(path, "days")
    raw_days = f.sequence(m.get("days", list(_DAYS)), days_path)
    if not raw_days:
        raise CatalogError(days_path, "needs at least one day")
    days: set[int] = set()
    for i, raw in enumerate(raw_days):
        day = _DAYS.get(raw) if isinstance(raw, str) else None
        if day is None:
            raise CatalogError(f.at(days_path, i), f"{raw!r} is not one of {', '.join(_DAYS)}")
        if day in days:
            raise CatalogError(f.at(days_path, i), f"{raw!r} is listed twice")
        days.add(day)
    dates = frozenset(_dates(m.get("dates", []), f.at(path, "dates")))
    days_of_month = frozenset(
        _numbers(m.get("days_of_month", []), f.at(path, "days_of_month"), 1, 31, {})
    )
    months = frozenset(_numbers(m.get("months", []), f.at(path, "months"), 1, 12, _MONTHS))
    dated = bool(dates or days_of_month or months)
    priority = f.integer(m.get("priority", 20 if dated else 10), f.at(path, "priority"), 0, 1000)
    zone = None if m.get("timezone") is None else _timezone(m["timezone"], f.at(path, "timezone"))
    start = f.clock(m["from"], f.at(path, "from"), allow_24=False)
    end = f.clock(m["to"], f.at(path, "to"), allow_24=True)
    return TimeBand(name, frozenset(days), start, end, dates, days_of_month, months, priority, zone)


def _dates(value: Any, path: str) -> list[datetime.date]:
    dates = []
    for i, raw in enumerate(f.sequence(value, path)):
        where = f.at(path, i)
        if isinstance(raw, datetime.date) and not isinstance(raw, datetime.datetime):
            day = raw  # YAML reads an unquoted 2026-12-25 as a date
        else:
            try:
                day = datetime.date.fromisoformat(f.string(raw, where))
            except ValueError:
                raise CatalogError(where, f"{raw!r} is not a date YYYY-MM-DD") from None
        if day in dates:
            raise CatalogError(where, f"{day.isoformat()} is listed twice")
        dates.append(day)
    return dates


def _numbers(value: Any, path: str, low: int, high: int, names: Mapping[str, int]) -> list[int]:
    numbers: list[int] = []
    for i, raw in enumerate(f.sequence(value, path)):
        where = f.at(path, i)
        number = names.get(raw) if isinstance(raw, str) else None
        if number is None:
            number = f.integer(raw, where, low, high)
        if number in numbers:
            raise CatalogError(where, f"{raw!r} is listed twice")
        numbers.append(number)
    return numbers


def _dated_overlap(a: TimeBand, b: TimeBand) -> bool:
    """Whether two bands (one at least dated) could hold the same time: windows that overlap on
    a date both start on. A window that wraps past midnight is taken to clash (conservative:
    give such bands different priorities)."""
    if _wraps(a) or _wraps(b):
        return True
    return windows_overlap(a, b) and could_share_a_day(a, b)


def _wraps(band: TimeBand) -> bool:
    """Whether the band's window runs past midnight into the next day."""
    start, length = window(band)
    return start + length > MINUTES_PER_DAY


def _prefix(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise CatalogError(path, f"expected a quoted string, got {f.describe(value)}")
    if len(value) > MAX_PREFIX or not value.isprintable():
        raise CatalogError(path, f"{value!r} must be up to {MAX_PREFIX} printable characters")
    prefix = destination_key(value)
    if value and not prefix:
        raise CatalogError(
            path, f'{value!r} is empty once normalised; use "" for every destination'
        )
    return prefix


def _rounding(value: Any, path: str) -> tuple[Rounding, int | None]:
    if value is None:
        return Rounding.UP, None
    m = f.mapping(value, path)
    f.keys(m, path, (), ("method", "decimals"))
    method = _choice(m.get("method", Rounding.UP.value), f.at(path, "method"), Rounding)
    decimals = (
        None if "decimals" not in m else f.integer(m["decimals"], f.at(path, "decimals"), 0, 6)
    )
    return method, decimals


def _choice(value: Any, path: str, kind: type[_E]) -> _E:
    text = f.string(value, path)
    try:
        return kind(text)
    except ValueError:
        allowed = ", ".join(e.value for e in kind)
        raise CatalogError(path, f"{text!r} is not one of {allowed}") from None


def _terms(m: Mapping[str, Any], path: str) -> RateTerms:
    steps = _increments(m.get("increment", [1, 1]), f.at(path, "increment"))
    connect_fee = f.money_micros(m.get("connect_fee", "0"), f.at(path, "connect_fee"))
    if ("price" in m) == ("tiers" in m):
        raise CatalogError(path, "give either price (with optional per) or tiers")
    if "tiers" in m:
        if "per" in m:
            raise CatalogError(f.at(path, "per"), "with tiers, give per inside each tier")
        tiers = _tiers(m["tiers"], f.at(path, "tiers"))
    else:
        price = f.money_micros(m["price"], f.at(path, "price"))
        per = f.integer(m.get("per", 1), f.at(path, "per"), 1, MAX_SCALE)
        tiers = (Tier(None, price, per),)
    max_cost = None
    if "max_cost" in m:
        max_cost = f.money_micros(m["max_cost"], f.at(path, "max_cost"))
    action = m.get("max_cost_action")
    if action is not None:
        if max_cost is None:
            raise CatalogError(f.at(path, "max_cost_action"), "needs max_cost")
        if action not in ("free", "disconnect"):
            raise CatalogError(
                f.at(path, "max_cost_action"), f"{action!r} is not one of free, disconnect"
            )
    return RateTerms(connect_fee, steps, tiers, max_cost, action == "disconnect")


def _increments(value: Any, path: str) -> tuple[Step, ...]:
    """`[first, next]`, or steps by offset: `[{from: 0, step: 1}, {from: 30, step: 60}]`."""
    items = f.sequence(value, path)
    if len(items) == 2 and all(not isinstance(item, Mapping) for item in items):
        return steps_of(
            f.integer(items[0], f.at(path, 0), 1), f.integer(items[1], f.at(path, 1), 1)
        )
    if not items or not all(isinstance(item, Mapping) for item in items):
        raise CatalogError(
            path, "expected [first, next], e.g. [60, 60], or a list of {from: offset, step: size}"
        )
    steps: list[Step] = []
    for i, raw in enumerate(items):
        where = f.at(path, i)
        m = f.mapping(raw, where)
        f.keys(m, where, ("from", "step"), ())
        start = f.integer(m["from"], f.at(where, "from"), 0)
        size = f.integer(m["step"], f.at(where, "step"), 1)
        if i == 0 and start != 0:
            raise CatalogError(f.at(where, "from"), "the first step starts at offset 0")
        if steps:
            previous = steps[-1]
            if start <= previous.start or (start - previous.start) % previous.size:
                raise CatalogError(
                    f.at(where, "from"),
                    f"must come after {previous.start} by a multiple of its step {previous.size}",
                )
        steps.append(Step(start, size))
    return tuple(steps)


def _tiers(value: Any, path: str) -> tuple[Tier, ...]:
    items = f.sequence(value, path)
    if not items:
        raise CatalogError(path, "needs at least one tier")
    tiers: list[Tier] = []
    previous = 0
    for i, raw in enumerate(items):
        tier_path = f.at(path, i)
        m = f.mapping(raw, tier_path)
        f.keys(m, tier_path, ("price",), ("up_to", "per"))
        last = i == len(items) - 1
        if last and "up_to" in m:
            raise CatalogError(f.at(tier_path, "up_to"), "the last tier must be open (omit up_to)")
        if not last and "up_to" not in m:
            raise CatalogError(f.at(tier_path, "up_to"), "only the last tier may omit up_to")
        up_to = None
        if not last:
            up_to = f.integer(m["up_to"], f.at(tier_path, "up_to"), 1)
            if up_to <= previous:
                raise CatalogError(
                    f.at(tier_path, "up_to"),
                    f"must be greater than the previous tier's up_to ({previous})",
                )
            previous = up_to
        price = f.money_micros(m["price"], f.at(tier_path, "price"))
        per = f.integer(m.get("per", 1), f.at(tier_path, "per"), 1, MAX_SCALE)
        tiers.append(Tier(up_to, price, per))
    return tuple(tiers)
