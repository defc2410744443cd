"""The charging core's storage port: what the charger asks of the balance store, and the answers.

The charger speaks only these types. How a request becomes a Lua script's KEYS and ARGV, and how
a script's packed answer becomes an outcome, is the Redis adapter's business (`store.py`), so the
wire format of the atomic step lives in one place beside the scripts. Unit tests fake the store at
this level.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tarif_balances.model import (
    EventOutcome,
    EventStep,
    Money,
    RefundOutcome,
    RefundStep,
    Route,
    SessionOutcome,
    SessionStep,
)
from tarif_catalog import Pricing, Quote, floor_boundary
from tarif_catalog.units import EXACT_LIMIT
from tarif_common.results import Result


@dataclass(frozen=True, slots=True)
class StaleRoute:
    """The account no longer owns the service identifier with that plan and group: the cached
    route is stale. Nothing was changed; the charger resolves the route again and retries."""


STALE_ROUTE = StaleRoute()


@functools.lru_cache(maxsize=65536)
def _top_price(pricing: Pricing) -> int:
    return max(price.price for price in pricing.prices)


@functools.lru_cache(maxsize=65536)
def _most_units(pricing: Pricing, top: int) -> int:
    """The most units a call starting on `pricing` may have when its highest unit price is
    `top`: its rated units (at most the largest boundary below the bound) times `top`, plus
    the connect fee, stay below 2**53."""
    most_rated = EXACT_LIMIT - 1
    if top > 0:
        most_rated = min(most_rated, (EXACT_LIMIT - 1 - pricing.connect_fee) // top)
    if most_rated < 0:
        return -1
    # rated_units(u) <= most_rated exactly when u <= the largest boundary at or below it
    return floor_boundary(most_rated, pricing.steps)


def priced_exactly(quote: Quote, units: int) -> bool:
    """Whether the store can price `units` of this call exactly.

    Its scripts compute with doubles, exact below 2**53 (`EXACT_LIMIT`): the worst case, every
    rated unit at the highest price of the call's pieces plus the connect fee, must stay below.
    A session's grants stop short of it in the script itself. Per event: two cache lookups.
    """
    pieces = quote.pieces
    pricing = pieces[0].pricing
    if len(pieces) == 1:
        top = _top_price(pricing)
    else:
        top = max(_top_price(piece.pricing) for piece in pieces)
    return units <= _most_units(pricing, top)


@dataclass(frozen=True, slots=True)
class SessionCall:
    """One session step, routed and (at start) rated."""

    route: Route
    step: SessionStep
    quote: Quote | None  # the pieces chosen at start; a running session keeps its own
    cycle: str = ""  # billing cycle of the event time (a group member's cap is per cycle)
    fingerprint: str = ""  # of the request, kept with its answer ("": none, replays unchecked)
    x_request_id: str = ""  # the call's request id, kept in the rated record ("": none)


@dataclass(slots=True)
class EventCall:
    """One event of a batch, routed and rated (its quote covers its units). Made per event, so
    not frozen (a frozen dataclass's `__init__` costs 3-5 times more); nothing assigns to it."""

    route: Route
    step: EventStep
    quote: Quote
    cycle: str = ""  # billing cycle of the event time (a group member's cap is per cycle)
    fingerprint: str = ""  # of the request, kept with its answer ("": none, replays unchecked)
    x_request_id: str = ""  # the call's request id, kept in the rated record ("": none)


@dataclass(frozen=True, slots=True)
class RefundCall:
    """A refund of a charged event, routed."""

    route: Route
    step: RefundStep
    fingerprint: str = ""  # of the request, kept with its answer ("": none, replays unchecked)
    x_request_id: str = ""  # the call's request id, kept in the rated record ("": none)


@dataclass(frozen=True, slots=True)
class UnratedEvent:
    """A debit the engine could not rate: kept, with why, so it can be corrected and re-rated."""

    step: EventStep
    reason: str  # unknown_subscriber, unknown_service, missing_rating_field, no_tariff, ...
    message: str


@dataclass(frozen=True, slots=True)
class StoredBalance:
    """A balance as the store holds it (smallest units; times in ms, 0 = open-ended)."""

    id: str
    resource: str
    amount: int
    reserved: int
    floor: int  # 0 for prepaid, minus the credit limit for postpaid money
    valid_from_ms: int
    valid_to_ms: int
    priority: int
    waives_connect_fee: bool = False  # a call starting on its free units pays no connect fee


@dataclass(frozen=True, slots=True)
class AdjustOutcome:
    """What a back-office adjustment of one balance did (`adjust.lua`)."""

    result: Result
    amount_after: int | None = None  # the balance's amount afterwards, smallest units
    message: str = ""


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """What the store keeps of a charged event for its replays (`tarif:{p}:i:<account>:e:<id>`,
    for `TARIF_IDEMPOTENCY_TTL`): the answer a retry gets, and what was refunded of it since."""

    outcome: EventOutcome
    refunded: Money | None  # refunded so far (None: the event charged no money)
    fingerprinted: bool  # kept with the request's fingerprint (a different request conflicts)
    expires_in: int  # seconds it is kept still (-1: no expiry)


class ChargingStore(Protocol):
    """What the charger needs of the balance store: each charging call is one atomic step."""

    async def resolve_many(self, subscribers: Sequence[str]) -> list[Route | None]:
        """Routes of service identifiers, None for unknown ones, in one round trip."""
        ...

    async def session(self, call: SessionCall, now_ms: int) -> SessionOutcome | StaleRoute: ...

    async def events(
        self, calls: Sequence[EventCall], now_ms: int
    ) -> list[EventOutcome | StaleRoute]:
        """Outcomes in the order of `calls`; each event is its own all-or-nothing step."""
        ...

    async def refund(self, call: RefundCall, now_ms: int) -> RefundOutcome | StaleRoute: ...

    async def balances(self, route: Route, subscriber: str) -> list[StoredBalance] | None:
        """The account's balances; None when the account does not serve `subscriber`."""
        ...

    async def keep_unrated(self, events: Sequence[UnratedEvent], now_ms: int) -> int:
        """Keep unratable debits once per event id; returns how many were new."""
        ...


class SessionSweepStore(Protocol):
    """What the sweeper needs: sessions past their validity, and their release."""

    async def expired_sessions(
        self, partition: int, now_ms: int, limit: int
    ) -> list[tuple[str, str]]:
        """(account, session id) of sessions expired at `now_ms`, at most `limit`."""
        ...

    async def expire_session(
        self, partition: int, account: str, session_id: str, now_ms: int
    ) -> bool:
        """Release one expired session; False if it was gone or renewed meanwhile."""
        ...
