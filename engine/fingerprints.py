"""Fingerprints of requests, so that a reused idempotency id with a different body is noticed.

A stored answer keeps the fingerprint of the request that made it (`h`); a replay whose
fingerprint differs is refused with IDEMPOTENCY_CONFLICT instead of being answered with another
request's answer (the scripts compare, see `lib.lua`'s `replay`). A fingerprint is blake2b-64 of
the request's significant fields, NUL-separated: validation refuses NUL in ids and attributes, so
the encoding is unambiguous. The id itself is the key, so it is not part of the fingerprint. An
event time the client did not state is the engine's "now", which a retry does not repeat: it is
left out.
"""

from __future__ import annotations

from datetime import datetime
from hashlib import blake2b

from tarif_balances.model import EventStep, RefundStep, SessionStep

# Computed for every stored request, so built with plain f-strings (a few µs an event).


def _digest(text: str) -> str:
    return blake2b(text.encode(), digest_size=8).hexdigest()


def _time(at: datetime, given: bool) -> str:
    return str(int(at.timestamp() * 1000)) if given else ""


def _attributes(attributes: dict[str, str]) -> str:
    """Sorted by name: the same fields in another order are the same request."""
    if len(attributes) == 1:  # the common case: the rating field alone
        ((key, value),) = attributes.items()
        return f"\0{key}\0{value}"
    return "".join([f"\0{key}\0{attributes[key]}" for key in sorted(attributes)])


def event_fingerprint(step: EventStep) -> str:
    """Subscriber, service, units, action, event time (ms) and the rating fields."""
    return _digest(
        f"e\0{step.subscriber}\0{step.service}\0{step.units}\0{int(step.action)}"
        f"\0{_time(step.event_time, step.time_given)}{_attributes(step.attributes)}"
    )


def session_fingerprint(step: SessionStep) -> str:
    """Operation, subscriber, service, requested and used units, event time, rating fields."""
    return _digest(
        f"s\0{step.op.value}\0{step.subscriber}\0{step.service}\0{step.requested_units}"
        f"\0{step.used_units}\0{_time(step.event_time, step.time_given)}"
        f"{_attributes(step.attributes)}"
    )


def refund_fingerprint(step: RefundStep) -> str:
    """Subscriber, the refunded event and the amount (currency and minor units; none: all)."""
    amount = step.amount
    given = "\0-1" if amount is None else f"{amount.currency}\0{amount.minor_units}"
    return _digest(f"r\0{step.subscriber}\0{step.original_event_id}\0{given}")
