"""The charging service: validate, route, rate, then one atomic step in the balance store.

Transport-free: the gRPC servicer converts protobuf to the steps of `tarif_balances.model` and
back. Storage is the `ChargingStore` port (`tarif_balances.ports`), given to the constructor: the
charger hands it typed calls and gets outcomes back, never a script's arguments or raw answer.
Malformed input raises `InvalidRequest` before anything is read or written (inside a batch, the
invalid event's slot is answered INVALID_REQUEST instead); business outcomes (unknown subscriber,
no credit, unratable usage, a reused idempotency id) are results in the outcome. Each stored
request carries its fingerprint (`engine.fingerprints`), so the scripts can tell a retry from a
different request under the same id, and the call's request id (`tarif_common.request_ids`),
which goes into the rated record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo

from engine.coalescer import EventCoalescer
from engine.fingerprints import event_fingerprint, refund_fingerprint, session_fingerprint
from engine.routes import RouteCache
from engine.validation import (
    Limits,
    check_id,
    refund_in_minor_units,
    validate_event,
    validate_refund,
    validate_session,
)
from tarif_balances.model import (
    Action,
    BalanceSheet,
    BalanceView,
    EventOutcome,
    EventStep,
    InvalidEvent,
    RefundOutcome,
    RefundStep,
    Route,
    SessionOp,
    SessionOutcome,
    SessionStep,
)
from tarif_balances.ports import (
    ChargingStore,
    EventCall,
    RefundCall,
    SessionCall,
    StaleRoute,
    UnratedEvent,
    priced_exactly,
)
from tarif_catalog import CompiledCatalog, Quote
from tarif_catalog.cache import CatalogSource
from tarif_common import request_ids
from tarif_common.errors import (
    InvalidRequest,
    MissingRatingField,
    NoTariff,
    RatingError,
    UnknownService,
    UsageTooLarge,
)
from tarif_common.results import Result

Clock = Callable[[], float]  # seconds since the epoch

_REASONS: dict[type[RatingError], str] = {
    UnknownService: "unknown_service",
    MissingRatingField: "missing_rating_field",
    NoTariff: "no_tariff",
    UsageTooLarge: "usage_too_large",
}


class Charger:
    def __init__(
        self,
        store: ChargingStore,
        catalog: CatalogSource,
        routes: RouteCache,
        limits: Limits,
        clock: Clock = time.time,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._routes = routes
        self._limits = limits
        self._clock = clock
        self._coalescer = EventCoalescer(store)
        self._cycles = _Cycles()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _compiled(self) -> CompiledCatalog:
        compiled = self._catalog.current
        if compiled is None:
            raise RatingError("no catalog is published")
        return compiled

    async def _routes_of(self, subscribers: Sequence[str], fresh: bool) -> dict[str, Route | None]:
        """Routes of a batch: cached ones, then all misses (or all, if `fresh`) in one MGET.

        A cached route naming a plan the catalog no longer has counts as a miss: the plan may
        have left the catalog in the same change that moved the subscriber to another plan, and
        rating the old route would answer "unknown plan" before any script could find it stale.
        """
        compiled = self._catalog.current
        plans = compiled.catalog.plans if compiled is not None else None
        found: dict[str, Route | None] = {}
        missing: list[str] = []
        for subscriber in dict.fromkeys(subscribers):
            route = None if fresh else self._routes.get(subscriber)
            if route is None or (plans is not None and route.plan not in plans):
                missing.append(subscriber)
            else:
                found[subscriber] = route
        if missing:
            for subscriber, route in zip(
                missing, await self._store.resolve_many(missing), strict=True
            ):
                found[subscriber] = route
                if route is None:
                    self._routes.drop(subscriber)
                else:
                    self._routes.put(subscriber, route)
        return found

    async def _route(self, subscriber: str) -> Route | None:
        return (await self._routes_of([subscriber], fresh=False))[subscriber]

    async def _reroute(self, subscriber: str) -> Route | None:
        """The route read again from Redis (after a script found the cached one stale)."""
        return (await self._routes_of([subscriber], fresh=True))[subscriber]

    async def session(self, step: SessionStep) -> SessionOutcome:
        validate_session(step, self._limits, self._clock())
        route = await self._route(step.subscriber)
        for _ in range(2):
            if route is None:
                return SessionOutcome(Result.USER_UNKNOWN, message="unknown subscriber")
            quote = None
            if step.op is SessionOp.START:
                try:
                    # the length is not known: the quote's pieces cover a horizon from the start
                    quote = self._quote(route, step.service, step.attributes, step.event_time, 0)
                except RatingError as exc:
                    return SessionOutcome(Result.RATING_FAILED, message=exc.message)
            call = SessionCall(
                route,
                step,
                quote,
                self._cycle(step.event_time),
                session_fingerprint(step),
                request_ids.current() or "",
            )
            outcome = await self._store.session(call, self._now_ms())
            if not isinstance(outcome, StaleRoute):
                return outcome
            route = await self._reroute(step.subscriber)
        return SessionOutcome(Result.USER_UNKNOWN, message="subscriber moved while charging")

    def _cycle(self, at: datetime) -> str:
        """The billing cycle of a time (calendar month in the catalog's time zone, for now)."""
        compiled = self._catalog.current
        if compiled is None:
            return _month(at)
        return self._cycles.of(at, compiled.zone)

    def _quote(
        self, route: Route, service: str, attributes: dict[str, str], at: datetime, units: int
    ) -> Quote:
        return self._compiled().quote(route.plan, service, attributes, at, units)

    async def event(self, step: EventStep) -> EventOutcome:
        """Charge one event; a malformed one raises `InvalidRequest` (gRPC INVALID_ARGUMENT)."""
        validate_event(step, self._limits, self._clock())
        outcomes: list[EventOutcome | None] = [None]
        await self._charge({0: step}, outcomes)
        return _filled(outcomes)[0]

    async def events(self, batch: Sequence[EventStep | InvalidEvent]) -> list[EventOutcome]:
        """Charge a batch in order, one outcome per slot. An event that fails the input checks
        is answered INVALID_REQUEST naming its field (`events[i].<field>`) in its own slot; it
        is neither charged nor kept as unratable usage, and the others are charged as usual."""
        now = self._clock()
        outcomes: list[EventOutcome | None] = [None] * len(batch)
        steps: dict[int, EventStep] = {}
        for index, item in enumerate(batch):
            if isinstance(item, EventStep):
                try:
                    validate_event(item, self._limits, now, index)
                except InvalidRequest as exc:
                    item = InvalidEvent(item.event_id, exc.message)
                else:
                    steps[index] = item
                    continue
            outcomes[index] = EventOutcome(
                Result.INVALID_REQUEST, item.event_id, message=item.message
            )
        if steps:
            await self._charge(steps, outcomes)
        return _filled(outcomes)

    async def _charge(
        self, steps: dict[int, EventStep], outcomes: list[EventOutcome | None]
    ) -> None:
        """Route, rate and charge valid events (by slot), filling in their outcomes."""
        unrated: dict[int, str] = {}  # index -> reason, for the debits that cannot be rated
        pending = list(steps)
        request_id = request_ids.current() or ""  # the call's (the coalescer mixes calls)
        for attempt in range(2):
            calls: list[EventCall] = []
            called: list[int] = []
            routes = await self._routes_of([steps[i].subscriber for i in pending], attempt > 0)
            compiled = self._catalog.current  # the loop below does not wait: it stays current
            for index in pending:
                step = steps[index]
                route = routes[step.subscriber]
                if route is None:
                    outcomes[index] = EventOutcome(
                        Result.USER_UNKNOWN, step.event_id, message="unknown subscriber"
                    )
                    unrated[index] = "unknown_subscriber"
                    continue
                try:
                    if compiled is None:
                        compiled = self._compiled()  # raises the RatingError
                    quote = compiled.quote(
                        route.plan, step.service, step.attributes, step.event_time, step.units
                    )
                    if not priced_exactly(quote, step.units):
                        raise UsageTooLarge()
                except RatingError as exc:
                    outcomes[index] = EventOutcome(
                        Result.RATING_FAILED, step.event_id, message=exc.message
                    )
                    unrated[index] = _REASONS.get(type(exc), "rating_failed")
                    continue
                # only a debit stores an answer, so only a debit's replay is compared
                fingerprint = event_fingerprint(step) if step.action is Action.DEBIT else ""
                cycle = self._cycles.of(step.event_time, compiled.zone)  # self._cycle's
                calls.append(EventCall(route, step, quote, cycle, fingerprint, request_id))
                called.append(index)
            answers = await self._coalescer.events(calls, self._now_ms()) if calls else []
            pending = []
            for index, outcome in zip(called, answers, strict=True):
                if isinstance(outcome, StaleRoute):
                    pending.append(index)
                else:
                    outcomes[index] = outcome
            if not pending:
                break
        for index in pending:
            outcomes[index] = EventOutcome(
                Result.USER_UNKNOWN,
                steps[index].event_id,
                message="subscriber moved while charging",
            )
            unrated[index] = "unknown_subscriber"
        await self._keep_unrated(steps, outcomes, unrated)

    async def _keep_unrated(
        self,
        steps: dict[int, EventStep],
        outcomes: Sequence[EventOutcome | None],
        unrated: dict[int, str],
    ) -> None:
        """Usage that cannot be rated must not vanish: keep the debits, with why. (An invalid
        event never gets here: it is a malformed request, not usage.)"""
        kept = []
        for index, reason in sorted(unrated.items()):
            step, outcome = steps[index], outcomes[index]
            if step.action is not Action.DEBIT or outcome is None:
                continue  # a balance check or price enquiry is not usage
            kept.append(UnratedEvent(step, reason, outcome.message))
        if kept:
            await self._store.keep_unrated(kept, self._now_ms())

    async def refund(self, step: RefundStep) -> RefundOutcome:
        validate_refund(step, self._limits, self._clock())
        compiled = self._catalog.current
        if compiled is not None:
            step = refund_in_minor_units(step, compiled.catalog.resources.values())
        route = await self._route(step.subscriber)
        for _ in range(2):
            if route is None:
                return RefundOutcome(Result.USER_UNKNOWN, message="unknown subscriber")
            call = RefundCall(route, step, refund_fingerprint(step), request_ids.current() or "")
            outcome = await self._store.refund(call, self._now_ms())
            if not isinstance(outcome, StaleRoute):
                return outcome
            route = await self._reroute(step.subscriber)
        return RefundOutcome(Result.USER_UNKNOWN, message="subscriber moved while refunding")

    async def balances(self, subscriber: str) -> BalanceSheet:
        check_id("subscriber", subscriber)
        route = await self._reroute(subscriber)  # a read: always the current owner
        if route is None:
            return BalanceSheet(Result.USER_UNKNOWN, subscriber, message="unknown subscriber")
        stored = await self._store.balances(route, subscriber)
        if stored is None:
            return BalanceSheet(Result.USER_UNKNOWN, subscriber, message="unknown subscriber")
        now_ms = self._now_ms()
        compiled = self._catalog.current
        views = []
        for balance in stored:
            if balance.valid_to_ms and balance.valid_to_ms <= now_ms:
                continue
            known = compiled.catalog.resources.get(balance.resource) if compiled else None
            views.append(
                BalanceView(
                    id=balance.id,
                    resource=balance.resource,
                    unit=known.unit if known is not None else balance.resource,
                    amount=balance.amount,
                    reserved=balance.reserved,
                    available=max(0, balance.amount - balance.reserved - balance.floor),
                    valid_from=_from_ms(balance.valid_from_ms),
                    valid_to=_from_ms(balance.valid_to_ms),
                    priority=balance.priority,
                )
            )
        views.sort(key=lambda v: (v.resource, v.id))
        return BalanceSheet(Result.SUCCESS, subscriber, route.account, tuple(views))


def _month(local: datetime) -> str:
    return f"{local.year:04d}{local.month:02d}"


class _Cycles:
    """Billing cycles by UTC hour and zone: a zone conversion per event was a visible share of a
    batch. An hour is remembered only when it lies in one month and one UTC offset of the zone
    (its first and last second agree; no zone changes its offset twice within an hour), so every
    instant of it is in that month; other hours, and times not in UTC, are converted each time.
    """

    __slots__ = ("_known",)
    LIMIT = 4096  # hours remembered (then forgotten all at once)

    def __init__(self) -> None:
        self._known: dict[tuple[tzinfo, int], str | None] = {}

    def of(self, at: datetime, zone: tzinfo) -> str:
        if at.tzinfo is not UTC:
            return _month(at.astimezone(zone))
        key = (zone, at.toordinal() * 24 + at.hour)
        try:
            cycle = self._known[key]
        except KeyError:
            cycle = self._hour(at, zone)
            if len(self._known) >= self.LIMIT:
                self._known.clear()
            self._known[key] = cycle
        return _month(at.astimezone(zone)) if cycle is None else cycle

    @staticmethod
    def _hour(at: datetime, zone: tzinfo) -> str | None:
        """The cycle of every instant of `at`'s UTC hour, None if they are not all in one."""
        first = at.replace(minute=0, second=0, microsecond=0).astimezone(zone)
        last = at.replace(minute=59, second=59, microsecond=999999).astimezone(zone)
        if first.utcoffset() != last.utcoffset() or _month(first) != _month(last):
            return None
        return _month(first)


def _filled(outcomes: list[EventOutcome | None]) -> list[EventOutcome]:
    """Every slot answered (a slot left empty would shift the answers after it)."""
    if any(outcome is None for outcome in outcomes):
        raise RuntimeError("an event of the batch got no outcome")
    return [outcome for outcome in outcomes if outcome is not None]


def _from_ms(ms: int) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms else None
