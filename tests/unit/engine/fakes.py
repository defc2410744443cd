"""A charging store faked at the port (`tarif_balances.ports`), for tests of the charger alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tarif_balances.model import (
    EventOutcome,
    Money,
    RefundOutcome,
    Route,
    SessionOutcome,
)
from tarif_balances.ports import (
    STALE_ROUTE,
    EventCall,
    RefundCall,
    SessionCall,
    StaleRoute,
    StoredBalance,
    UnratedEvent,
)
from tarif_catalog import CompiledCatalog, parse_catalog
from tarif_common.results import Result
from tests.unit.rating.catalogs import example_doc

COMPILED = CompiledCatalog(parse_catalog(example_doc()))
# Wednesday noon in Ljubljana: the peak band applies to Slovenian numbers.
AT = datetime(2026, 11, 18, 11, 0, tzinfo=UTC)
NOW = AT.timestamp() + 1
QUOTE = COMPILED.quote("basic", "voice", {"destination": "39061234"}, AT, 60)


class Catalog:
    """A `CatalogSource` holding one compiled catalog."""

    def __init__(self, compiled: CompiledCatalog | None = COMPILED) -> None:
        self.current = compiled


@dataclass
class FakeStore:
    """Answers every step with SUCCESS and records what it was asked.

    `routes` is what `resolve_many` finds; an account in `moved` answers "stale route" once (as
    a script does when the cached route names an account that no longer has the identifier), one
    in `moving` every time.
    """

    routes: dict[str, Route] = field(default_factory=dict)
    moved: set[str] = field(default_factory=set)
    moving: set[str] = field(default_factory=set)
    held: list[StoredBalance] = field(default_factory=list)
    resolved: list[list[str]] = field(default_factory=list)
    sessions: list[SessionCall] = field(default_factory=list)
    batches: list[list[EventCall]] = field(default_factory=list)
    refunds: list[RefundCall] = field(default_factory=list)
    unrated: list[UnratedEvent] = field(default_factory=list)

    def _stale(self, route: Route) -> bool:
        if route.account in self.moving:
            return True
        if route.account in self.moved:
            self.moved.discard(route.account)
            return True
        return False

    async def resolve_many(self, subscribers: Sequence[str]) -> list[Route | None]:
        self.resolved.append(list(subscribers))
        return [self.routes.get(s) for s in subscribers]

    async def session(self, call: SessionCall, now_ms: int) -> SessionOutcome | StaleRoute:
        self.sessions.append(call)
        if self._stale(call.route):
            return STALE_ROUTE
        return SessionOutcome(Result.SUCCESS, granted_units=call.step.requested_units)

    async def events(
        self, calls: Sequence[EventCall], now_ms: int
    ) -> list[EventOutcome | StaleRoute]:
        self.batches.append(list(calls))
        return [
            STALE_ROUTE
            if self._stale(c.route)
            else EventOutcome(Result.SUCCESS, c.step.event_id, c.step.units)
            for c in calls
        ]

    async def refund(self, call: RefundCall, now_ms: int) -> RefundOutcome | StaleRoute:
        self.refunds.append(call)
        if self._stale(call.route):
            return STALE_ROUTE
        return RefundOutcome(Result.SUCCESS, Money("EUR", 12, 2))

    async def balances(self, route: Route, subscriber: str) -> list[StoredBalance] | None:
        return list(self.held) if subscriber in self.routes else None

    async def keep_unrated(self, events: Sequence[UnratedEvent], now_ms: int) -> int:
        self.unrated.extend(events)
        return len(events)
