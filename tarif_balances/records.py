"""The rated record: what the engine writes to `tarif:{p}:rated` for billing, defined once.

One record per charging step that moved a balance or charged money (and one per expired session
or adjustment); every balance movement is in exactly one record's `imp`, written in the same
script that moves it. `lib.lua`'s `add_record` is the only writer; `FIELDS` names and explains
every field (docs/architecture.md shows the same table, and a test holds the two together);
`parse_record` reads an entry into a typed `RatedRecord`; `read_flat` gives the same values as a
plain tuple for bulk readers (billing_batch's ingestion), held equal to `parse_record` by tests.

Three forms of an entry, all read everywhere: the compact record `add_record` writes (one stream
field `r`, the values of `POSITIONAL` then the optional names and values, joined by `SEPARATOR`);
several compact records in one entry (field `rs`, joined by `RECORDS_SEPARATOR`: the records of
one `event.lua` chunk); and the long form (one stream field per record field), which records
written before the compact form have and which `add_record` still writes for a record whose text
holds a separator. `entry_records` gives an entry's records, `record_fields` turns a record of
either form into the long form's mapping.

A record carries the decimals of its currency (`dec`), so a reader needs no catalog. Records
written before `dec` existed have none: `decimals` is None, and the reader must look the currency
up in the catalog (billing_batch does).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, TypeAlias

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
    "rate": "rate id `tariff:prefix[:band]` of the rate at the call's start (empty for a refund "
    "or an adjustment)",
    "t": "event time (ms since the epoch)",
    "at": "charging time (ms since the epoch)",
    "u": "units used in this step",
    "ru": "units rated (after increments) in this step: the call's offsets it rated, free or not",
    "cost": "money charged in this step, in minor units of `cur` (negative for a refund; a "
    "session step: the session's cost so far, rounded once, less what its earlier steps "
    "charged)",
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
    "rq": "request id of the call that charged it (`x-request-id`, or the engine's own; events, "
    "session steps and refunds; absent otherwise and in records written before it existed)",
}

_OPTIONAL = frozenset({"dec", "ref", "reason", "rq"})
REQUIRED: Final = frozenset(FIELDS) - _OPTIONAL

COMPACT: Final = "r"  # the compact form's one stream field (no long-form field has this name)
SEPARATOR: Final = "\x1f"  # the unit separator
BATCH: Final = "rs"  # an entry holding several compact records
RECORDS_SEPARATOR: Final = "\x1e"  # the record separator
POSITIONAL: Final = (
    "id", "k", "acct", "sub", "svc", "rate", "t", "at", "u", "ru", "cost", "cur", "dec", "imp",
    "unc", "sid", "attrs",
)  # fmt: skip


class RecordKind(StrEnum):
    EVENT = "event"
    START = "start"
    UPDATE = "update"
    END = "end"
    EXPIRED = "expired"
    REFUND = "refund"
    ADJUST = "adjust"


_KINDS = frozenset(kind.value for kind in RecordKind)
# What json.loads runs on a text, from its start (an attribute typeshed does not declare).
_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


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
    x_request_id: str = ""  # `rq`: the request id of the call ("": none)


def impacts_text(impacts: tuple[Impact, ...]) -> str:
    """`imp` as written (lib.lua's impacts_text)."""
    return ",".join(f"{i.balance_id}|{i.resource}|{i.amount}" for i in impacts)


def _impacts(text: str) -> tuple[Impact, ...]:
    found = []
    for part in text.split(",") if text else ():
        balance_id, resource, amount = part.split("|")
        found.append(Impact(balance_id, resource, int(amount)))
    return tuple(found)


def compact_text(fields: Mapping[str, str]) -> str:
    """The compact form's text of a long-form record (what `add_record` writes; tests)."""
    optional = [
        part for name in ("ref", "reason", "rq") if name in fields for part in (name, fields[name])
    ]
    return SEPARATOR.join([fields[name] for name in POSITIONAL] + optional)


def entry_records(fields: Mapping[str, str]) -> list[Mapping[str, str]]:
    """The records of a stream entry: several for a chunk's entry (`BATCH`), else the entry's
    own fields (a record in the compact or the long form: read it with `parse_record` or
    `read_flat`)."""
    texts = fields.get(BATCH)
    if texts is None:
        return [fields]
    return [{COMPACT: text} for text in texts.split(RECORDS_SEPARATOR)]


def record_fields(fields: Mapping[str, str]) -> Mapping[str, str]:
    """An entry's record fields, from either form; UnreadableRecord for a compact text with too
    few values or an optional name without its value."""
    text = fields.get(COMPACT)
    if text is None:
        return fields
    values = text.split(SEPARATOR)
    rest = len(values) - len(POSITIONAL)
    if rest < 0 or rest % 2:
        raise UnreadableRecord(f"compact rated record with {len(values)} values")
    found = dict(zip(POSITIONAL, values, strict=False))  # rest >= 0: every name has a value
    if rest:
        tail = values[len(POSITIONAL) :]
        found.update(zip(tail[::2], tail[1::2], strict=True))
    return found


def parse_record(fields: Mapping[str, str]) -> RatedRecord:
    """Read a `tarif:{p}:rated` entry (fields as text, either form); UnreadableRecord if it is
    not one."""
    fields = record_fields(fields)
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
            x_request_id=fields.get("rq", ""),
        )
    except (ValueError, OverflowError) as exc:  # JSONDecodeError is a ValueError
        raise UnreadableRecord(f"rated record {fields.get('id')!r}: {exc}") from exc


# A record as `read_flat` gives it: RatedRecord's fields in their order, the kind as its text and
# the impacts as their text (`impacts_text`).
FlatRecord: TypeAlias = tuple[
    str, str, str, str, str, str, datetime, datetime, int, int, int, str, int | None, str, int,
    str, dict[str, Any], str, str, str,
]  # fmt: skip


def flat(record: RatedRecord) -> FlatRecord:
    """A parsed record in the form `read_flat` gives (what `read_flat` is tested against)."""
    return (
        record.request_id, record.kind.value, record.account_id, record.subscriber,
        record.service, record.rate, record.event_time, record.charged_at, record.units,
        record.rated_units, record.cost, record.currency, record.decimals,
        impacts_text(record.impacts), record.uncovered, record.session_id, record.attributes,
        record.refunded_event, record.reason, record.x_request_id,
    )  # fmt: skip


def read_flat(fields: Mapping[str, str]) -> FlatRecord:
    """`flat(parse_record(fields))` without building the dataclass and the impacts: the same
    values (tests compare the two over generated entries) at a fraction of the cost, for
    ingestion in bulk. Whatever it cannot read goes through `parse_record`, so an unreadable
    entry raises parse_record's UnreadableRecord."""
    try:
        if COMPACT in fields:
            fields = record_fields(fields)
        kind = fields["k"]
        if kind not in _KINDS:
            raise ValueError(kind)
        text = fields["attrs"]
        if text[:1] == "{":  # json.loads' own scanner, without its checks around a bare object
            attributes, end = _scan_json(text, 0)
            if end != len(text):  # whatever follows the object: let json.loads judge it
                attributes = json.loads(text)
        else:
            attributes = json.loads(text) if text else {}
        if not isinstance(attributes, dict):
            attributes = {}
        dec = fields.get("dec", "")
        decimals = int(dec) if dec != "" else None
        if decimals is not None and not 0 <= decimals <= 18:
            raise ValueError(dec)
        impacts = fields["imp"]
        if impacts:  # as impacts_text(_impacts(...)) writes them: amounts as int() reads them
            parts = [part.split("|") for part in impacts.split(",")]
            impacts = ",".join([f"{b}|{r}|{int(amount)}" for b, r, amount in parts])
        return (
            fields["id"], kind, fields["acct"], fields["sub"], fields["svc"], fields["rate"],
            ms_time(fields["t"]), ms_time(fields["at"]), int(fields["u"]), int(fields["ru"]),
            int(fields["cost"]), fields["cur"], decimals, impacts, int(fields["unc"]),
            fields["sid"], attributes, fields.get("ref", ""), fields.get("reason", ""),
            fields.get("rq", ""),
        )  # fmt: skip
    except (KeyError, ValueError, OverflowError, TypeError, StopIteration):
        return flat(parse_record(fields))
