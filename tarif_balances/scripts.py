"""The charging scripts' calling convention: their source, their KEYS and ARGV, their answers.

Half of the Redis adapter (`store.py` does the I/O): the one place in Python that knows how a
request is laid out for a script (each `.lua` file's header is the contract) and how a script's
msgpack answer reads. Pure functions, so the layout is testable without Redis and the load tools
can build exactly the engine's commands.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from importlib import resources
from typing import Any

import msgpack  # type: ignore[import-untyped]
from redis.typing import EncodableT, FieldT

from tarif_balances.model import (
    EventOutcome,
    Impact,
    Money,
    RefundOutcome,
    Route,
    SessionOutcome,
)
from tarif_balances.ports import (
    STALE_ROUTE,
    AdjustOutcome,
    EventCall,
    RefundCall,
    SessionCall,
    StaleRoute,
    StoredAnswer,
    StoredBalance,
    UnratedEvent,
)
from tarif_catalog import Pricing, Quote
from tarif_common import keys
from tarif_common.results import Result

Answer = dict[str, Any]
"""A script's answer as unpacked: {r, g, f, c, sc, imp, vt, cur, d, m, n, ru, tc, rd, t, rt, x,
bs, ...} (see the headers)."""

# Result code a script returns when the account no longer owns the service identifier (the route
# cache was stale). Never leaves the adapter: it becomes `STALE_ROUTE`.
ROUTE_STALE = 100

ScriptCall = tuple[list[str], list[Any]]  # KEYS, ARGV


def script_source(name: str) -> str:
    """A script's text as registered: `lib.lua` first, then the script itself."""
    lua = resources.files("tarif_balances") / "lua"
    return (lua / "lib.lua").read_text() + "\n" + (lua / f"{name}.lua").read_text()


def pack(value: Any) -> bytes:
    """msgpack for the scripts: Redis' Lua cmsgpack knows only the legacy raw string types."""
    packed: bytes = msgpack.packb(value, use_bin_type=False)
    return packed


def unpack(raw: bytes) -> Answer:
    answer: Answer = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    return answer


@functools.lru_cache(maxsize=65536)
def pricing_blob(pricing: Pricing) -> bytes:
    """One rate's terms in the scripts' format (msgpack). Cached by identity (a `Pricing` is
    shared by every request on its rate and hashes by id), bounded: few rates serve many
    requests."""
    return pack(
        {
            "svc": pricing.service,
            "mr": pricing.money_resource,
            "cur": pricing.currency,
            "d": pricing.decimals,
            "mo": pricing.money_order.value,
            "fr": [[name, order.value] for name, order in pricing.free_resources],
            "cf": pricing.connect_fee,
            "st": [[step.start, step.size] for step in pricing.steps],
            "pr": [[-1 if p.up_to is None else p.up_to, p.price] for p in pricing.prices],
            "sc": pricing.scale,
            "rd": pricing.rounding_decimals,
            "rm": pricing.rounding.value,
            "mx": -1 if pricing.max_cost is None else pricing.max_cost,
            "dc": pricing.disconnect,
            "t": pricing.tariff_id,
            "b": pricing.band or "",
        }
    )


def quote_blob(quote: Quote) -> bytes:
    """A session's quote as `session.lua` takes it at start: rate id, prefix, its pieces."""
    return pack(
        {
            "r": quote.rate_id,
            "x": quote.prefix,
            "q": [[piece.start, pricing_blob(piece.pricing)] for piece in quote.pieces],
        }
    )


# A single-piece schedule, by the index of its pricing in the batch: the common case is packed
# from these shared lists instead of a new list per event.
_SINGLE = [[[0, index]] for index in range(1024)]


def _schedule(quote: Quote, pricings: dict[Pricing, int]) -> list[list[int]]:
    """The event's schedule {{start offset, index of its pricing blob}...}, each distinct
    pricing of the batch numbered once (1-based, the order of ARGV[4])."""
    pieces = quote.pieces
    if len(pieces) == 1:
        index = pricings.setdefault(pieces[0].pricing, len(pricings) + 1)
        return _SINGLE[index] if index < len(_SINGLE) else [[0, index]]
    return [
        [piece.start, pricings.setdefault(piece.pricing, len(pricings) + 1)] for piece in pieces
    ]


def _plain(text: str) -> bool:
    """Whether JSON writes `text` as it is: printable ASCII without a quote or a backslash."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


def attributes_text(attributes: Mapping[str, str]) -> str:
    """Rating fields as the rated record's `attrs` (compact JSON, sorted keys). Plain fields are
    written directly (what `json.dumps` writes, at a sixth of its cost per event)."""
    if not attributes:
        return "{}"
    try:
        if len(attributes) == 1:  # the common case: the rating field alone
            ((key, value),) = attributes.items()
            if _plain(key) and _plain(value):
                return f'{{"{key}":"{value}"}}'
        else:
            fields = sorted(attributes.items())  # as json.dumps(sort_keys=True) sorts them
            if all([_plain(key) and _plain(value) for key, value in fields]):
                return "{" + ",".join([f'"{key}":"{value}"' for key, value in fields]) + "}"
    except AttributeError:  # not text: json.dumps says what it makes of it
        pass
    return json.dumps(attributes, separators=(",", ":"), sort_keys=True)


def route_of(raw: bytes | str) -> Route:
    """A route as stored under `tarif:svc:<identifier>`."""
    partition, account, plan, *group = keys.text(raw).split("|")
    return Route(int(partition), account, plan, *group)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def group_keys(route: Route, account_key: str) -> list[str]:
    """The group and owner keys of a member; the account's own key twice otherwise (same slot)."""
    if not route.group:
        return [account_key, account_key]
    return [keys.group(route.partition, route.group), keys.account(route.partition, route.owner)]


def session_script_call(
    call: SessionCall, now_ms: int, ttl: int, validity: int, grace: int
) -> ScriptCall:
    """KEYS and ARGV of `session.lua` for one step of a session (see the script's header)."""
    route, step = call.route, call.step
    p = route.partition
    request_id = keys.session_request_id(step.session_id, step.request_number)
    script_keys = [
        keys.account(p, route.account),
        keys.idempotency(p, route.account, request_id),
        keys.rated_stream(p),
        keys.session_expiry(p),
        keys.partition_stats(p),
        keys.notification_stream(p),
    ]
    script_keys.extend(group_keys(route, script_keys[0]))
    args: list[Any] = [
        step.op.value,
        route.account,
        step.subscriber,
        route.plan,
        step.session_id,
        step.request_number,
        now_ms,
        _ms(step.event_time),
        step.requested_units,
        step.used_units,
        ttl,
        validity,
        grace,
        b"" if call.quote is None else quote_blob(call.quote),
        attributes_text(step.attributes),
        route.group,
        route.owner,
        call.cycle,
        call.fingerprint,
        call.x_request_id,
    ]
    return script_keys, args


def expire_script_call(route: Route, session_id: str, now_ms: int) -> ScriptCall:
    """KEYS and ARGV of `session.lua` releasing one expired session (the sweeper's path).

    `route` names the account and, for a member, its group and owner (no plan: nothing is rated).
    """
    p, account = route.partition, route.account
    script_keys = [
        keys.account(p, account),
        keys.idempotency(p, account, "sweep"),
        keys.rated_stream(p),
        keys.session_expiry(p),
        keys.partition_stats(p),
        keys.notification_stream(p),
    ]
    script_keys.extend(group_keys(route, script_keys[0]))
    # session.lua's ARGV: op, account, session id, now and the group matter; the rest are
    # placeholders (a release rates nothing, stores no answer, has no fingerprint and no
    # request id: its record carries no `rq`)
    args: list[Any] = ["expire", account, "", "", session_id, 0, now_ms, now_ms, 0, 0, 1, 1, 0,
                       b"", "", route.group, route.owner, "", "", ""]  # fmt: skip
    return script_keys, args


def event_script_call(
    calls: Sequence[EventCall], now_ms: int, ttl: int, retry_ttl: int
) -> ScriptCall:
    """KEYS and ARGV of `event.lua` for events of one partition (see the script's header):
    `ttl` keeps a charged event's answer (the refund window), `retry_ttl` the answer of one
    that charged nothing."""
    p = calls[0].route.partition
    script_keys = [
        keys.rated_stream(p),
        keys.session_expiry(p),
        keys.partition_stats(p),
        keys.notification_stream(p),
    ]
    pricings: dict[Pricing, int] = {}
    events: list[tuple[Any, ...]] = []
    # looked up once, not per event
    add_key, add_event = script_keys.append, events.append
    account_key, idempotency_key, request_id = keys.account, keys.idempotency, keys.event_request_id
    for c in calls:
        route, step, quote = c.route, c.step, c.quote
        account = route.account
        index = len(script_keys) + 1
        add_key(account_key(p, account))
        add_key(idempotency_key(p, account, request_id(step.event_id)))
        if route.group:
            script_keys.extend(group_keys(route, script_keys[-2]))
        schedule = _schedule(quote, pricings)
        add_event(
            (
                account,
                step.subscriber,
                route.plan,
                step.event_id,
                int(step.event_time.timestamp() * 1000),  # not _ms(): the per-event path
                step.units,
                int(step.action),
                schedule,
                attributes_text(step.attributes),
                index,
                route.group,
                route.owner,
                c.cycle,
                quote.rate_id,
                quote.prefix,
                c.fingerprint,
                c.x_request_id,
            )
        )
    blobs = pack([pricing_blob(p) for p in pricings])
    return script_keys, [now_ms, ttl, len(calls), blobs, pack(events), retry_ttl]


def refund_script_call(call: RefundCall, now_ms: int, ttl: int) -> ScriptCall:
    """KEYS and ARGV of `refund.lua` (see the script's header)."""
    route, step = call.route, call.step
    p, account = route.partition, route.account
    script_keys = [
        keys.account(p, account),
        keys.idempotency(p, account, keys.refund_request_id(step.refund_id)),
        keys.idempotency(p, account, keys.event_request_id(step.original_event_id)),
        keys.rated_stream(p),
        keys.notification_stream(p),
    ]
    script_keys.extend(group_keys(route, script_keys[0]))
    amount = step.amount
    args: list[Any] = [
        now_ms,
        ttl,
        account,
        step.subscriber,
        route.plan,
        step.refund_id,
        step.original_event_id,
        -1 if amount is None else amount.minor_units,  # -1: the whole event
        _ms(step.event_time),
        "" if amount is None else amount.currency,
        route.group,
        route.owner,
        call.fingerprint,
        call.x_request_id,
    ]
    return script_keys, args


def _impacts(answer: Answer) -> tuple[Impact, ...]:
    imp = answer.get("imp")
    return tuple([Impact(str(b), str(r), int(a)) for b, r, a in imp]) if imp else ()


def _money(answer: Answer, key: str) -> Money | None:
    if answer.get("cur") is None or answer.get(key) is None:
        return None
    return Money(answer["cur"], int(answer[key]), int(answer["d"]))


def _tariff_cost(answer: Answer) -> Money | None:
    """The cost at the tariff's decimals (`rd`), when the request was rated."""
    if answer.get("tc") is None or answer.get("cur") is None:
        return None
    decimals = answer["rd"] if "rd" in answer else answer["d"]  # left out when equal to `d`
    return Money(answer["cur"], int(answer["tc"]), int(decimals))


def _bands(answer: Answer) -> tuple[str, ...]:
    return tuple(str(band) for band in answer.get("bs") or ())


def session_outcome(answer: Answer) -> SessionOutcome | StaleRoute:
    if answer["r"] == ROUTE_STALE:
        return STALE_ROUTE
    return SessionOutcome(
        result=Result(answer["r"]),
        granted_units=int(answer.get("g", 0)),
        validity_time=int(answer.get("vt", 0)),
        final_unit=bool(answer.get("f", False)),
        cost=_money(answer, "c"),
        session_cost=_money(answer, "sc"),
        impacts=_impacts(answer),
        message=str(answer.get("m", "")),
        **_rating(answer),
    )


def _rating(answer: Answer) -> dict[str, Any]:
    """How a request was rated, as event and session outcomes both carry it."""
    return {
        "rated_units": int(answer.get("ru", 0)),
        "tariff": str(answer.get("t", "")),
        "rate": str(answer.get("rt", "")),
        "prefix": str(answer.get("x", "")),
        "bands": _bands(answer),
        "tariff_cost": _tariff_cost(answer),
    }


_RESULTS = {int(result): result for result in Result}


def event_outcome(answer: Answer, event_id: str) -> EventOutcome | StaleRoute:
    """An event's answer as its outcome: `session_outcome`'s decoding written out for the one
    answer per event of a batch (no keyword arguments, no helper calls, `Result` by lookup)."""
    code = answer["r"]
    if code == ROUTE_STALE:
        return STALE_ROUTE
    get = answer.get
    cost = tariff_cost = None
    currency = get("cur")
    if currency is not None:
        if (c := get("c")) is not None:
            cost = Money(currency, int(c), int(answer["d"]))
        if (tc := get("tc")) is not None:  # at the tariff's decimals, left out when equal to `d`
            tariff_cost = Money(currency, int(tc), int(answer["rd" if "rd" in answer else "d"]))
    impacts: tuple[Impact, ...] = ()
    if imp := get("imp"):
        if len(imp) == 1:  # the common case: one balance moved
            ((b, r, a),) = imp
            impacts = (Impact(str(b), str(r), int(a)),)
        else:
            impacts = tuple([Impact(str(b), str(r), int(a)) for b, r, a in imp])
    bands = get("bs")
    return EventOutcome(
        _RESULTS.get(code) or Result(code),
        event_id,
        int(get("g", 0)),
        cost,
        impacts,
        str(get("m", "")),
        int(get("ru", 0)),
        str(get("t", "")),
        str(get("rt", "")),
        str(get("x", "")),
        tuple([str(band) for band in bands]) if bands else (),
        tariff_cost,
    )


def stored_event_answer(answer: Answer, event_id: str, expires_in: int) -> StoredAnswer:
    """A charged event's stored answer (event.lua's, `rf` the money refunded so far, `h` the
    fingerprint) as the trace shows it."""
    outcome = event_outcome(answer, event_id)
    if isinstance(outcome, StaleRoute):  # never stored; kept out of the answer's type
        raise ValueError(f"a stored answer of event {event_id} says the route is stale")
    return StoredAnswer(outcome, _money(answer, "rf"), bool(answer.get("h")), expires_in)


def refund_outcome(answer: Answer) -> RefundOutcome | StaleRoute:
    if answer["r"] == ROUTE_STALE:
        return STALE_ROUTE
    return RefundOutcome(
        result=Result(answer["r"]),
        refunded=_money(answer, "c"),
        impacts=_impacts(answer),
        message=str(answer.get("m", "")),
    )


def adjust_outcome(answer: Answer) -> AdjustOutcome:
    """`adjust.lua`'s answer {r, a (amount after), m} as an outcome."""
    after = answer.get("a")
    return AdjustOutcome(
        Result(answer["r"]), int(after) if after is not None else None, answer.get("m", "")
    )


def stored_balances(fields: Mapping[str, str], subscriber: str) -> list[StoredBalance] | None:
    """The balances of an account hash (`b:<id>` descriptors `res|from|to|prio|floor[|1]`, the
    last present when the balance's free units waive the connect fee, with `a:`/`v:` amounts);
    None when the account does not serve `subscriber`."""
    if fields.get(f"s:{subscriber}") is None:
        return None
    found = []
    for name, value in fields.items():
        if not name.startswith("b:"):
            continue
        balance_id = name[2:]
        resource, valid_from, valid_to, priority, floor, *flags = value.split("|")
        found.append(
            StoredBalance(
                id=balance_id,
                resource=resource,
                amount=int(fields.get(f"a:{balance_id}", 0)),
                reserved=int(fields.get(f"v:{balance_id}", 0)),
                floor=int(floor),
                valid_from_ms=int(valid_from),
                valid_to_ms=int(valid_to),
                priority=int(priority),
                waives_connect_fee=flags == ["1"],
            )
        )
    return found


def unrated_entry(event: UnratedEvent, now_ms: int) -> dict[FieldT, EncodableT]:
    """An entry of `tarif:unrated` (fields listed in docs/architecture.md, "Redis key layout")."""
    step = event.step
    return {
        "id": keys.event_request_id(step.event_id),
        "reason": event.reason,
        "m": event.message,
        "sub": step.subscriber,
        "svc": step.service,
        "t": _ms(step.event_time),
        "u": step.units,
        "attrs": attributes_text(step.attributes),
        "at": now_ms,
    }
