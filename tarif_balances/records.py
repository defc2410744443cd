"""The rated record: what the engine writes to `tarif:{p}:rated` for billing, defined once.

One record per charging step that moved a balance or charged money (and one per expired session
or adjustment); every balance movement is in exactly one record's `imp`, written in the same
script that moves it. `lib.lua`'s `add_record` is the only writer; `FIELDS` names and explains
every field (docs/architecture.md shows the same table, and a test holds the two together);
`parse_record` reads an entry into a typed `RatedRecord`.

A record carries the decimals of its currency (`dec`), so a reader needs no catalog. Records
written before `dec` existed have none: `decimals` is None, and the reader must look the currency
up in the catalog (billing_batch does).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from tarif_balances.model import Impact
from tarif_common.keys import ms_time

FIELDS: Final[Mapping[str, str]] = {
    "id": "the request id: `e:<event>`, `s:<session>#<n>`, `s:<session>#expired`, `r:<refund>`, "
    "`a:<adjustment>`",
    "k": "kind: `event`; `update`, `end` (session steps; a `start` reports no usage); `expired`, "
    "`refund`, `adjust`",
    "acct": "account id",
    "sub": "service identifier (empty for an adjustment)",
    "svc": "service type (empty for an adjustment)",
    "rate": "rate id `tariff:prefix[:band]` (empty for a refund or an adjustment)",
    "t": "event time (ms since the epoch)",
    "at": "charging time (ms since the epoch)",
    "u": "units used in this step",
    "ru": "units rated (after increments) in this step",
    "cost": "money charged in this step, in minor units of `cur` (negative for a refund)",
    "cur": "currency of `cost` and `unc` (empty for an adjustment)",
    "dec": "decimals of `cur`: `cost` / 10^`dec` is the amount (0 when `cur` is empty; missing in "
    "records written before it existed)",
    "imp": "exact balance movements `balance|resource|amount,...` in the resource's smallest "
    "unit (negative = consumed; a group's pool balance is `owner/balance`)",
    "unc": "money due but not covered (usage reported beyond the grant), minor units of `cur`",
    "sid": "session id (sessions only)",
    "attrs": "rating fields (JSON object)",
    "ref": "the refunded event id (refunds; empty for an adjustment; absent otherwise)",
    "reason": "why (adjustments only; absent otherwise)",
}

_OPTIONAL = frozenset({"dec", "ref", "reason"})
REQUIRED: Final = frozenset(FIELDS) - _OPTIONAL


class RecordKind(StrEnum):
    EVENT = "event"
    START = "start"
    UPDATE = "update"
    END = "end"
    EXPIRED = "expired"
    REFUND = "refund"
    ADJUST = "adjust"


class UnreadableRecord(ValueError):
    """A stream entry that is not a rated record as `add_record` writes it."""


@dataclass(frozen=True, slots=True)
class RatedRecord:
    request_id: str
    kind: RecordKind
    account_id: str
    subscriber: str
    service: str
    rate: str
    event_time: datetime
    charged_at: datetime
    units: int
    rated_units: int
    cost: int  # minor units of `currency`
    currency: str
    decimals: int | None  # None: written before records carried it (see the module docstring)
    impacts: tuple[Impact, ...]
    uncovered: int  # minor units of `currency`
    session_id: str
    attributes: dict[str, Any]
    refunded_event: str = ""
    reason: str = ""


def impacts_text(impacts: tuple[Impact, ...]) -> str:
    """`imp` as written (lib.lua's impacts_text)."""
    return ",".join(f"{i.balance_id}|{i.resource}|{i.amount}" for i in impacts)


def _impacts(text: str) -> tuple[Impact, ...]:
    found = []
    for part in text.split(",") if text else ():
        balance_id, resource, amount = part.split("|")
        found.append(Impact(balance_id, resource, int(amount)))
    return tuple(found)


def parse_record(fields: Mapping[str, str]) -> RatedRecord:
    """Read a `tarif:{p}:rated` entry (fields as text); UnreadableRecord if it is not one."""
    missing = REQUIRED - fields.keys()
    if missing:
        raise UnreadableRecord(f"rated record without {', '.join(sorted(missing))}")
    try:
        attributes = json.loads(fields["attrs"] or "{}")
        dec = fields.get("dec", "")
        decimals = int(dec) if dec != "" else None
        if decimals is not None and not 0 <= decimals <= 18:
            raise ValueError(f"dec {decimals} is not a number of decimals")
        return RatedRecord(
            request_id=fields["id"],
            kind=RecordKind(fields["k"]),
            account_id=fields["acct"],
            subscriber=fields["sub"],
            service=fields["svc"],
            rate=fields["rate"],
            event_time=ms_time(fields["t"]),
            charged_at=ms_time(fields["at"]),
            units=int(fields["u"]),
            rated_units=int(fields["ru"]),
            cost=int(fields["cost"]),
            currency=fields["cur"],
            decimals=decimals,
            impacts=_impacts(fields["imp"]),
            uncovered=int(fields["unc"]),
            session_id=fields["sid"],
            attributes=attributes if isinstance(attributes, dict) else {},
            refunded_event=fields.get("ref", ""),
            reason=fields.get("reason", ""),
        )
    except (ValueError, OverflowError) as exc:  # JSONDecodeError is a ValueError
        raise UnreadableRecord(f"rated record {fields.get('id')!r}: {exc}") from exc
