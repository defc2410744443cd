"""Input checks of the charging requests: a malformed request is refused before any I/O.

Each failure is an `InvalidRequest` naming the field, which the gRPC edge turns into
INVALID_ARGUMENT with that detail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tarif_balances.model import Action, EventStep, RefundStep, SessionOp, SessionStep
from tarif_common.errors import InvalidRequest
from tarif_common.keys import ID_PATTERN

MAX_ATTRIBUTES = 64
MAX_ATTRIBUTE_KEY = 64
MAX_ATTRIBUTE_VALUE = 256


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


def validate_event(step: EventStep, limits: Limits, now: float, index: int | None = None) -> None:
    prefix = "" if index is None else f"events[{index}]."
    check_id(f"{prefix}subscriber", step.subscriber)
    check_id(f"{prefix}event_id", step.event_id)
    check_id(f"{prefix}service", step.service)
    _check_time(f"{prefix}event_time", step.event_time, limits, now)
    _check_attributes(f"{prefix}attributes", step.attributes)
    _check_units(f"{prefix}units", step.units, limits, minimum=1)
    if step.action not in Action.__members__.values():
        raise InvalidRequest(f"{prefix}action", "unknown requested action")


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
