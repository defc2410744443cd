"""The catalog compiled for rating: from (plan, service, attributes, start, usage) to a `Quote`.

Selection rules, in order:

1. The service type must exist (`UnknownService`) and every mandatory field must be present and
   non-empty (`MissingRatingField`); the plan must have a tariff for the service (`NoTariff`).
2. The rating key is the value of the service type's `rating_field` in its normal form
   (`tarif_catalog.destinations`: digits of a phone number without `+`/`00`, or a SIP URI's
   `user@host`). An absent or empty optional rating field, or a service type without one, gives
   the empty key, which only the catch-all prefix `""` matches.
3. At an instant, the longest rate prefix of the key wins. Among the rates of that prefix, the
   first whose time band holds the instant (bands by priority, highest first; the band-less rate
   last) is used. If that prefix only has banded rates and none holds the instant, the next
   shorter matching prefix is tried; nothing left is `NoTariff`.
4. A call is rated from the rate at its start: that rate gives the increments, the connect fee
   and the cap. For a time-based service (unit `second`) of a tariff with `bands: split` (the
   default), each second of the call is priced by the rate selected at the instant it starts, so
   a call crossing 18:00 is priced at the day rate until then and at the evening rate after; the
   `Quote` lists those pieces (offsets from the call's start, rounded up to whole seconds).
   With `bands: start`, or for other units, the whole call is priced at the start rate.
   A session's pieces are computed for `SESSION_HORIZON` seconds from its start; past that, the
   last piece's rate continues.

For speed and memory with hundreds of thousands of prefixes, each tariff is a plain dict
`prefix -> Pricing` (a single band-less rate) or `prefix -> ((band | None, Pricing), ...)`, whose
prefix strings are the parsed catalog's own, plus the prefix lengths it holds, probed from the
longest length down. `Pricing` objects are built once per distinct terms and band, and shared.
"""

from __future__ import annotations

import bisect
import datetime
import math
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass

from tarif_catalog.bands import (
    MINUTES_PER_WEEK,
    contains_local,
    edges,
    minute_of_week,
    week_bitmap,
)
from tarif_catalog.destinations import destination_key
from tarif_catalog.model import Catalog, RateTerms, Resource, ServiceType, Tariff, TimeBand
from tarif_catalog.quote import Piece, Pricing, Quote
from tarif_catalog.units import UnitPrice, rated_units
from tarif_common.errors import MissingRatingField, NoTariff, UnknownService

SESSION_HORIZON = 48 * 3600
"""Seconds from a session's start for which its band changes are worked out."""

TIME_UNITS = frozenset(("second", "seconds", "s"))
"""Service units that are seconds of time: only their calls are split at band changes."""

QUOTES = 20_000
"""One-piece quotes, and chains of banded prefixes, kept per tariff: the first prefixes
requested, at about 300 bytes each (6 MB per tariff at most); past that, made per request."""

_WEEK_SECONDS = 7 * 24 * 3600
_Entries = tuple[tuple[str | None, Pricing], ...]
_Slot = Pricing | _Entries
_Chain = tuple[tuple[str, _Slot], ...]


@dataclass(frozen=True, slots=True)
class _Band:
    band: TimeBand
    zone: zoneinfo.ZoneInfo
    bitmap: bytes | None  # weekly bands only
    changes: tuple[int, ...] = ()  # weekly bands: the minutes of the week where it opens/closes

    def crossed(self, start: datetime.datetime, seconds: int) -> bool:
        """Whether the band may open or close within `seconds` after `start`: exact for a weekly
        band when the clock does not change within the call (checked an hour beyond its end, so
        a call ending in a spring-forward gap counts as changing), else True (let `edges` find
        out)."""
        if self.bitmap is None or seconds >= _WEEK_SECONDS:
            return True
        local = start.astimezone(self.zone)
        if (local + datetime.timedelta(seconds=seconds + 3600)).utcoffset() != local.utcoffset():
            return True
        first = minute_of_week(local)
        last = first + (local.second + seconds) // 60 + 1
        changes = self.changes
        i = bisect.bisect_right(changes, first)
        if i < len(changes) and changes[i] <= last:
            return True
        # past the end of the week: the changes from Monday 00:00 on
        return last >= MINUTES_PER_WEEK and bool(changes) and changes[0] <= last - MINUTES_PER_WEEK


class _CompiledTariff:
    __slots__ = ("chains", "lengths", "quotes", "split", "table")

    def __init__(self, table: dict[str, _Slot], split: bool) -> None:
        self.table = table
        self.split = split
        self.lengths = tuple(sorted({len(prefix) for prefix in table}, reverse=True))
        # one-piece quotes made so far (a Quote is immutable: requests share it)
        self.quotes: dict[tuple[str, Pricing], Quote] = {}
        # the chain of each banded prefix matched so far, and the bands it names
        self.chains: dict[str, tuple[_Chain, tuple[str, ...]]] = {}

    def chain(
        self, prefix: str, slot: _Entries, shorter: tuple[int, ...]
    ) -> tuple[_Chain, tuple[str, ...]]:
        """`_chain` of a banded `prefix` and the bands of its slots (the shorter prefixes of a
        key that matched `prefix` are those of `prefix`: one chain per prefix), made once."""
        found = self.chains.get(prefix)
        if found is None:
            chain = _chain(self.table, prefix, shorter, prefix, slot)
            names = {name for _, s in chain if not isinstance(s, Pricing) for name, _ in s}
            found = (chain, tuple(sorted(name for name in names if name is not None)))
            if len(self.chains) < QUOTES:
                self.chains[prefix] = found
        return found

    def single(self, prefix: str, pricing: Pricing) -> Quote:
        """The quote of a call priced whole by `pricing` from `prefix`: made once (up to
        `QUOTES` of them per tariff), not per request."""
        key = (prefix, pricing)
        quote = self.quotes.get(key)
        if quote is None:
            quote = Quote((Piece(0, prefix, pricing),))
            if len(self.quotes) < QUOTES:
                self.quotes[key] = quote
        return quote


class CompiledCatalog:
    """Immutable, thread-safe lookup structure built once per catalog version."""

    __slots__ = ("_bands", "_catalog", "_plans", "_zone")

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._zone = zoneinfo.ZoneInfo(catalog.timezone)
        self._bands = {name: _band(band, self._zone) for name, band in catalog.time_bands.items()}
        tariffs = {
            tariff_id: _compile_tariff(catalog, tariff)
            for tariff_id, tariff in catalog.tariffs.items()
        }
        self._plans = {
            plan_id: {service: tariffs[tariff_id] for service, tariff_id in plan.tariffs.items()}
            for plan_id, plan in catalog.plans.items()
        }

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The catalog time zone (bands without a zone of their own are read in it)."""
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
        """The pieces of a call of `units` units starting at `event_time` (rules in the module
        docstring); `units=0` for a session, whose length is not known yet.

        `event_time` must be timezone-aware.
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
        if service_type.rating_field is not None:
            raw = attributes.get(service_type.rating_field)
            if raw:
                key = destination_key(raw)
        table, size, lengths = tariff.table, len(key), tariff.lengths
        chain: _Chain = ()
        names: tuple[str, ...] = ()
        for i, length in enumerate(lengths):  # the common case inline: one band-less rate
            if length <= size:
                prefix = key[:length]
                slot = table.get(prefix)
                if slot is not None:
                    if isinstance(slot, Pricing):
                        return tariff.single(prefix, slot)
                    chain, names = tariff.chain(prefix, slot, lengths[i + 1 :])
                    break
        if not chain:
            raise NoTariff(f"no rate of plan {plan_id!r} for service {service!r} matches {key!r}")
        start = self._select(chain, event_time)
        if start is None:
            raise NoTariff(f"no rate of plan {plan_id!r} for service {service!r} matches {key!r}")
        prefix, pricing = start
        if not tariff.split or service_type.unit not in TIME_UNITS:
            return tariff.single(prefix, pricing)
        horizon = rated_units(units, pricing.steps) if units else SESSION_HORIZON
        pieces = self._pieces(chain, names, event_time, horizon, prefix, pricing)
        return tariff.single(prefix, pricing) if pieces is None else Quote(pieces)

    def _select(self, chain: _Chain, at: datetime.datetime) -> tuple[str, Pricing] | None:
        """The (prefix, rate) in force at instant `at`."""
        local: dict[zoneinfo.ZoneInfo, datetime.datetime] = {}
        for prefix, slot in chain:
            if isinstance(slot, Pricing):
                return prefix, slot
            for name, pricing in slot:
                if name is None:
                    return prefix, pricing
                band = self._bands[name]
                when = local.get(band.zone)
                if when is None:
                    when = local[band.zone] = at.astimezone(band.zone)
                if band.bitmap is not None:
                    if band.bitmap[minute_of_week(when)]:
                        return prefix, pricing
                elif contains_local(band.band, when):
                    return prefix, pricing
        return None

    def _pieces(
        self,
        chain: _Chain,
        names: tuple[str, ...],
        start: datetime.datetime,
        horizon: int,
        prefix: str,
        pricing: Pricing,
    ) -> tuple[Piece, ...] | None:
        """Split [start, start + horizon s) where the selected rate changes (`names`: the bands
        of the chain; `prefix` and `pricing`: the rate at the start); None: it does not."""
        end = start + datetime.timedelta(seconds=horizon)
        offsets: set[int] = set()
        for name in names:
            band = self._bands[name]
            if not band.crossed(start, horizon):
                continue
            for instant in edges(band.band, band.zone, start, end):
                offset = math.ceil((instant - start).total_seconds())
                if 0 < offset < horizon:
                    offsets.add(offset)
        if not offsets:
            return None
        pieces = [Piece(0, prefix, pricing)]
        for offset in sorted(offsets):
            selected = self._select(chain, start + datetime.timedelta(seconds=offset))
            if selected is None:
                raise NoTariff(f"no rate for the part of the call from second {offset}")
            prefix, pricing = selected
            if pricing is not pieces[-1].pricing or prefix != pieces[-1].prefix:
                pieces.append(Piece(offset, prefix, pricing))
        return tuple(pieces) if len(pieces) > 1 else None


def _chain(
    table: dict[str, _Slot], key: str, shorter: tuple[int, ...], prefix: str, slot: _Entries
) -> _Chain:
    """The banded `slot` of `prefix`, then the slots of the `shorter` prefixes of `key`, longest
    first, up to the first band-less rate (no shorter prefix can be selected after it)."""
    chain: list[tuple[str, _Slot]] = [(prefix, slot)]
    if slot[-1][0] is None:
        return tuple(chain)
    size = len(key)
    for length in shorter:
        if length > size:
            continue
        found = table.get(key[:length])
        if found is None:
            continue
        chain.append((key[:length], found))
        if isinstance(found, Pricing) or found[-1][0] is None:
            break
    return tuple(chain)


def _band(band: TimeBand, catalog_zone: zoneinfo.ZoneInfo) -> _Band:
    zone = catalog_zone if band.timezone is None else zoneinfo.ZoneInfo(band.timezone)
    if band.dated:
        return _Band(band, zone, None)
    bitmap = week_bitmap(band)
    return _Band(band, zone, bitmap, _changes(bitmap))


def _changes(bitmap: bytes) -> tuple[int, ...]:
    """The minutes of the week where a weekly band opens or closes (sorted)."""
    return tuple(m for m in range(MINUTES_PER_WEEK) if bitmap[m] != bitmap[m - 1])


def _compile_tariff(catalog: Catalog, tariff: Tariff) -> _CompiledTariff:
    money = catalog.resources[tariff.money_resource]
    assert money.currency is not None
    free = tuple(
        (name, catalog.resources[name].order)
        for name in catalog.service_types[tariff.service].free_resources
    )
    scale = tariff.scale
    decimals = money.decimals if tariff.rounding_decimals is None else tariff.rounding_decimals
    made: dict[tuple[int, str | None], Pricing] = {}

    def pricing(terms: RateTerms, band: str | None) -> Pricing:
        key = (id(terms), band)
        found = made.get(key)
        if found is None:
            found = made[key] = Pricing(
                tariff_id=tariff.id,
                service=tariff.service,
                money_resource=money.name,
                currency=money.currency or "",
                decimals=money.decimals,
                money_order=money.order,
                free_resources=free,
                band=band,
                connect_fee=terms.connect_fee_micros * scale,
                steps=terms.steps,
                prices=tuple(
                    UnitPrice(t.up_to, t.price_micros * (scale // t.per_units)) for t in terms.tiers
                ),
                scale=scale,
                rounding_decimals=decimals,
                rounding=tariff.rounding,
                max_cost=None if terms.max_cost_micros is None else terms.max_cost_micros * scale,
                disconnect=terms.disconnect,
            )
        return found

    table: dict[str, _Slot] = {}
    for prefix, slot in tariff.table.items():
        if isinstance(slot, RateTerms):
            table[prefix] = pricing(slot, None)
        else:
            table[prefix] = tuple((band, pricing(terms, band)) for band, terms in slot)
    return _CompiledTariff(table, tariff.bands.value == "split")
