"""The charging service: validate, route, rate, then one atomic step in the balance store.

Transport-free: the gRPC servicer converts protobuf to the steps of `tarif_balances.model` and
back. Storage is the `ChargingStore` port (`tarif_balances.ports`), given to the constructor: the
charger hands it typed calls and gets outcomes back, never a script's arguments or raw answer.
Malformed input raises `InvalidRequest` before anything is read or written; business outcomes
(unknown subscriber, no credit, unratable usage) are results in the outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from engine.coalescer import EventCoalescer
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
)
from tarif_catalog import CompiledCatalog, Pricing
from tarif_catalog.cache import CatalogSource
from tarif_common.errors import MissingRatingField, NoTariff, RatingError, UnknownService
from tarif_common.results import Result

Clock = Callable[[], float]  # seconds since the epoch

_REASONS: dict[type[RatingError], str] = {
    UnknownService: "unknown_service",
    MissingRatingField: "missing_rating_field",
    NoTariff: "no_tariff",
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
            pricing = None
            if step.op is SessionOp.START:
                try:
                    pricing = self._price(route, step.service, step.attributes, step.event_time)
                except RatingError as exc:
                    return SessionOutcome(Result.RATING_FAILED, message=exc.message)
            call = SessionCall(route, step, pricing, self._cycle(step.event_time))
            outcome = await self._store.session(call, self._now_ms())
            if not isinstance(outcome, StaleRoute):
                return outcome
            route = await self._reroute(step.subscriber)
        return SessionOutcome(Result.USER_UNKNOWN, message="subscriber moved while charging")

    def _cycle(self, at: datetime) -> str:
        """The billing cycle of a time (calendar month in the catalog's time zone, for now)."""
        compiled = self._catalog.current
        local = at.astimezone(compiled.zone) if compiled is not None else at
        return f"{local.year:04d}{local.month:02d}"

    def _price(
        self, route: Route, service: str, attributes: dict[str, str], at: datetime
    ) -> Pricing:
        return self._compiled().price(route.plan, service, attributes, at)

    async def event(self, step: EventStep) -> EventOutcome:
        return (await self.events([step]))[0]

    async def events(self, steps: Sequence[EventStep]) -> list[EventOutcome]:
        """Charge events in order; all are validated before any is charged."""
        now = self._clock()
        for index, step in enumerate(steps):
            validate_event(step, self._limits, now, index if len(steps) > 1 else None)
        outcomes: list[EventOutcome | None] = [None] * len(steps)
        unrated: dict[int, str] = {}  # index -> reason, for the debits that cannot be rated
        pending = list(range(len(steps)))
        for attempt in range(2):
            calls: list[EventCall] = []
            called: list[int] = []
            routes = await self._routes_of([steps[i].subscriber for i in pending], attempt > 0)
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
                    pricing = self._price(route, step.service, step.attributes, step.event_time)
                except RatingError as exc:
                    outcomes[index] = EventOutcome(
                        Result.RATING_FAILED, step.event_id, message=exc.message
                    )
                    unrated[index] = _REASONS.get(type(exc), "rating_failed")
                    continue
                calls.append(EventCall(route, step, pricing, self._cycle(step.event_time)))
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
        return [outcome for outcome in outcomes if outcome is not None]

    async def _keep_unrated(
        self,
        steps: Sequence[EventStep],
        outcomes: Sequence[EventOutcome | None],
        unrated: dict[int, str],
    ) -> None:
        """Usage that cannot be rated must not vanish: keep the debits, with why."""
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
            outcome = await self._store.refund(RefundCall(route, step), self._now_ms())
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


def _from_ms(ms: int) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms else None
