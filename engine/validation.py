"""Input checks of the charging requests: a malformed request is refused before any I/O.

Each failure is an `InvalidRequest` naming the field, which the gRPC edge turns into
INVALID_ARGUMENT with that detail.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from tarif_balances.model import Action, EventStep, Money, RefundStep, SessionOp, SessionStep
from tarif_catalog.model import Resource
from tarif_common.errors import InvalidRequest
from tarif_common.keys import ID_PATTERN

MAX_ATTRIBUTES = 64
MAX_ATTRIBUTE_KEY = 64
MAX_ATTRIBUTE_VALUE = 256
MAX_DECIMALS = 6  # as the catalog's money (tarif_catalog.parse)
_ACTIONS = frozenset(Action)


@dataclass(frozen=True, slots=True)
class Limits:
    max_units: int
    max_event_age: int  # seconds an event may lie in the past
    max_clock_skew: int  # seconds an event may lie in the future


def check_id(field: str, value: str) -> None:
    if not value:
        raise InvalidRequest(field, "is required")
    if not ID_PATTERN.fullmatch(value):
        raise InvalidRequest(field, "must be 1-128 characters of A-Z a-z 0-9 _ . : @ + -")


def _check_units(field: str, value: int, limits: Limits, *, minimum: int) -> None:
    if value < minimum:
        raise InvalidRequest(field, f"must be at least {minimum}")
    if value > limits.max_units:
        raise InvalidRequest(field, f"must be at most {limits.max_units}")


def _check_time(field: str, value: datetime, limits: Limits, now: float) -> None:
    if value.tzinfo is None:
        raise InvalidRequest(field, "must carry a time zone")
    at = value.timestamp()
    if at < now - limits.max_event_age:
        raise InvalidRequest(field, f"is more than {limits.max_event_age} s in the past")
    if at > now + limits.max_clock_skew:
        raise InvalidRequest(field, f"is more than {limits.max_clock_skew} s in the future")


def _check_attributes(field: str, attributes: dict[str, str]) -> None:
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidRequest(field, f"at most {MAX_ATTRIBUTES} entries")
    for key, value in attributes.items():
        if not key or len(key) > MAX_ATTRIBUTE_KEY:
            raise InvalidRequest(field, f"keys must be 1-{MAX_ATTRIBUTE_KEY} characters")
        if len(value) > MAX_ATTRIBUTE_VALUE:
            raise InvalidRequest(f"{field}.{key}", f"at most {MAX_ATTRIBUTE_VALUE} characters")
        # a NUL cannot be stored in Postgres text or jsonb: the rated record carrying it would
        # be refused by the batch, so it is refused here, before anything is charged
        if "\x00" in key or "\x00" in value:
            raise InvalidRequest(f"{field}.{key!r}", "must not contain NUL characters")


def validate_session(step: SessionStep, limits: Limits, now: float) -> None:
    check_id("subscriber", step.subscriber)
    check_id("session_id", step.session_id)
    if step.op is SessionOp.START:
        check_id("service", step.service)
    _check_time("event_time", step.event_time, limits, now)
    _check_attributes("attributes", step.attributes)
    _check_units("requested_units", step.requested_units, limits, minimum=0)
    _check_units("used_units", step.used_units, limits, minimum=0)
    if step.op is SessionOp.START and step.used_units:
        raise InvalidRequest("used_units", "must be 0 when a session starts")
    if step.op is SessionOp.END and step.requested_units:
        raise InvalidRequest("requested_units", "must be 0 when a session ends")


_ID_CHARS = ID_PATTERN.pattern.removeprefix("^").removesuffix("$")  # [...]{1,128}
# The three ids of an event at once (one match instead of three, for every event of a batch):
# NUL is not an id character, so the text matches exactly when each id does.
_EVENT_IDS = re.compile(rf"{_ID_CHARS}\x00{_ID_CHARS}\x00{_ID_CHARS}")


def validate_event(step: EventStep, limits: Limits, now: float, index: int | None = None) -> None:
    """The checks of one event; a failure inside a batch names `events[index].<field>`."""
    try:
        _check_event(step, limits, now)
    except InvalidRequest as exc:
        if index is None:
            raise
        raise InvalidRequest(f"events[{index}].{exc.field}", exc.reason) from None


def _check_event(step: EventStep, limits: Limits, now: float) -> None:
    if not _EVENT_IDS.fullmatch(f"{step.subscriber}\x00{step.event_id}\x00{step.service}"):
        check_id("subscriber", step.subscriber)  # which one, in this order
        check_id("event_id", step.event_id)
        check_id("service", step.service)
    _check_time("event_time", step.event_time, limits, now)
    _check_attributes("attributes", step.attributes)
    _check_units("units", step.units, limits, minimum=1)
    if step.action not in _ACTIONS:
        raise InvalidRequest("action", "unknown requested action")


def validate_refund(step: RefundStep, limits: Limits, now: float) -> None:
    check_id("subscriber", step.subscriber)
    check_id("refund_id", step.refund_id)
    check_id("original_event_id", step.original_event_id)
    _check_time("event_time", step.event_time, limits, now)
    if step.amount is not None:
        if step.amount.minor_units <= 0:
            raise InvalidRequest("amount.minor_units", "must be positive (unset refunds all)")
        if not step.amount.currency:
            raise InvalidRequest("amount.currency", "is required with an amount")
        if step.amount.decimals > MAX_DECIMALS:
            raise InvalidRequest("amount.decimals", f"must be at most {MAX_DECIMALS}")


def refund_in_minor_units(step: RefundStep, resources: Iterable[Resource]) -> RefundStep:
    """The refund with its amount in the minor unit of its currency's money resource (its
    catalog `decimals`), the unit the refund script counts in: 1 with decimals 0 is 100 cents of
    EUR, 1230 with decimals 3 is 123; 1234 with decimals 3 is no whole number of cents and is
    refused. A currency no money resource has is left as it is: it is not the charged event's,
    and the script refuses it (CREDIT_CONTROL_NOT_APPLICABLE) as before."""
    amount = step.amount
    if amount is None:
        return step
    decimals = next((r.decimals for r in resources if r.currency == amount.currency), None)
    if decimals is None or decimals == amount.decimals:
        return step
    if amount.decimals < decimals:
        units = amount.minor_units * 10 ** (decimals - amount.decimals)
    else:
        units, rest = divmod(amount.minor_units, 10 ** (amount.decimals - decimals))
        if rest:
            raise InvalidRequest(
                "amount.minor_units",
                f"{amount.minor_units} with amount.decimals {amount.decimals} is a fraction of"
                f" the smallest unit of {amount.currency} ({decimals} decimals)",
            )
    return replace(step, amount=Money(amount.currency, units, decimals))
