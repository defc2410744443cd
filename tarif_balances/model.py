"""Domain types of the charging core: what a request asks and what it gets back.

Plain dataclasses, free of protobuf and of Redis, so the charger can be driven from gRPC, from the
admin API or from tests alike. Units are integers in the service type's unit; money is an integer
amount of the currency's minor unit.

The records made for every event of a batch are cheaper kinds (docs/profile.md): a frozen
dataclass sets each field through `object.__setattr__`, 3-5 times the cost of a plain one. The
values (`Money`, `Impact`, `EventOutcome`) are NamedTuples, immutable and hashable as before;
`EventStep` is a slotted dataclass that is not frozen (`dataclasses.replace` keeps working;
nothing assigns to it, and its attributes dict never let it be hashed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import NamedTuple

from tarif_common.results import Result


class Action(IntEnum):
    """Requested-Action of an event (RFC 4006); values match the wire enum."""

    DEBIT = 0
    CHECK_BALANCE = 2
    PRICE_ENQUIRY = 3


class SessionOp(StrEnum):
    START = "start"
    UPDATE = "update"
    END = "end"


class Money(NamedTuple):
    currency: str
    minor_units: int
    decimals: int


class Impact(NamedTuple):
    """One balance movement: negative consumed, positive given back."""

    balance_id: str
    resource: str
    amount: int


@dataclass(frozen=True, slots=True)
class Route:
    """Where a service identifier's account lives, which plan rates it, and its sharing group."""

    partition: int
    account: str
    plan: str
    group: str = ""  # sharing group the account is a member of ("" when none)
    owner: str = ""  # that group's owner account


@dataclass(frozen=True, slots=True)
class SessionStep:
    op: SessionOp
    subscriber: str
    service: str
    session_id: str
    request_number: int
    event_time: datetime
    attributes: dict[str, str]
    requested_units: int
    used_units: int
    # the client stated `event_time` (else it is the engine's "now", which a retry does not repeat)
    time_given: bool = True


@dataclass(slots=True)
class EventStep:
    subscriber: str
    service: str
    event_id: str
    event_time: datetime
    attributes: dict[str, str]
    units: int
    action: Action = Action.DEBIT
    # the client stated `event_time` (else it is the engine's "now", which a retry does not repeat)
    time_given: bool = True


@dataclass(frozen=True, slots=True)
class InvalidEvent:
    """An event of a batch that failed the input checks: answered INVALID_REQUEST in its own
    slot, never charged, and not usage (not kept as unratable)."""

    event_id: str  # as the client sent it
    message: str  # names the field: "events[3].units: must be at least 1"


@dataclass(frozen=True, slots=True)
class RefundStep:
    subscriber: str
    refund_id: str
    original_event_id: str
    event_time: datetime
    amount: Money | None = None  # None: the whole event


@dataclass(frozen=True, slots=True)
class SessionOutcome:
    """One session step's answer. `cost`, `rated_units`, `bands` and `tariff_cost` are this
    request's commit (`bands`: of the pieces its rated units touched); `session_cost` the whole
    session so far. `tariff_cost` is the cost at the tariff's rounding decimals (its `decimals`),
    before the currency's minor unit."""

    result: Result
    granted_units: int = 0
    validity_time: int = 0
    final_unit: bool = False
    cost: Money | None = None
    session_cost: Money | None = None
    impacts: tuple[Impact, ...] = ()
    message: str = ""
    rated_units: int = 0
    tariff: str = ""
    rate: str = ""  # the rate at the session's start: tariff:prefix[:band]
    prefix: str = ""
    bands: tuple[str, ...] = ()
    tariff_cost: Money | None = None


class EventOutcome(NamedTuple):
    """One event's answer: `granted_units` is what the client may use (the units, less when a
    disconnecting cap cut the call, 0 when refused); `tariff_cost` as for a session."""

    result: Result
    event_id: str
    granted_units: int = 0
    cost: Money | None = None
    impacts: tuple[Impact, ...] = ()
    message: str = ""
    rated_units: int = 0
    tariff: str = ""
    rate: str = ""
    prefix: str = ""
    bands: tuple[str, ...] = ()
    tariff_cost: Money | None = None


@dataclass(frozen=True, slots=True)
class RefundOutcome:
    result: Result
    refunded: Money | None = None
    impacts: tuple[Impact, ...] = ()
    message: str = ""


@dataclass(frozen=True, slots=True)
class BalanceView:
    id: str
    resource: str
    unit: str
    amount: int
    reserved: int
    available: int
    valid_from: datetime | None
    valid_to: datetime | None
    priority: int


@dataclass(frozen=True, slots=True)
class BalanceSheet:
    result: Result
    subscriber: str
    account: str = ""
    balances: tuple[BalanceView, ...] = field(default_factory=tuple)
    message: str = ""
