"""The request id of the work in hand, so one charge can be followed across the processes.

A caller may send one (gRPC metadata `x-request-id`, HTTP header `X-Request-ID`); otherwise the
edge makes one. The engine's interceptor and the admin API's middleware hold it in a ContextVar
for the length of the call and send it back; every log line written meanwhile carries it
(`LogFilter`), the engine writes it into the rated record (`rq`) and Postgres keeps it
(`rated_events.x_request_id`). The batch binds a record's id while it handles that record.

Not to be confused with the idempotency ids that the code also calls request ids (`e:<event>`,
`s:<session>#<n>`: `tarif_common.keys`): this one names a call, not what it charges.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
from collections.abc import Iterator
from contextvars import ContextVar, Token

METADATA = "x-request-id"  # gRPC metadata keys are lower case
HEADER = "X-Request-ID"
LOG_FIELD = "request_id"

# What a caller's id may be: visible ASCII without spaces, at most 128 characters. It reaches
# log lines, stream entries and Postgres, so anything else is replaced by a new id (answered
# back, so the caller sees which id its call has).
_ACCEPTED = re.compile(r"[!-~]{1,128}")

_current: ContextVar[str | None] = ContextVar("tarif_request_id", default=None)


class _Ids:
    """New ids: 32 hex digits, a random per-process prefix and a counter (cheaper than a
    uuid4 per call, unique just the same). A forked child draws its own prefix."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count(1)

    def new(self) -> str:
        return f"{self.prefix}{next(self.counter):016x}"


_ids = _Ids()
os.register_at_fork(after_in_child=_ids.reset)


def new() -> str:
    """A fresh request id."""
    return _ids.new()


def accepted(given: str | bytes | None) -> str:
    """The caller's id if it is acceptable, else a new one."""
    if isinstance(given, bytes):
        given = given.decode("ascii", "replace")
    if given and _ACCEPTED.fullmatch(given):
        return given
    return new()


def current() -> str | None:
    """The request id of the work in hand, None outside a call."""
    return _current.get()


def set_current(request_id: str | None) -> Token[str | None]:
    """Hold `request_id` until `reset(token)`."""
    return _current.set(request_id)


def reset(token: Token[str | None]) -> None:
    _current.reset(token)


@contextlib.contextmanager
def bound(request_id: str | None) -> Iterator[None]:
    """Hold `request_id` (None or '': none) for the body of the `with`."""
    token = _current.set(request_id or None)
    try:
        yield
    finally:
        _current.reset(token)


def outgoing() -> tuple[tuple[str, str], ...]:
    """gRPC metadata that passes the current request id on to the engine (none: empty)."""
    request_id = _current.get()
    return ((METADATA, request_id),) if request_id else ()


class LogFilter(logging.Filter):
    """Puts the current request id on every record a handler emits (`request_id`), unless the
    record names one itself. On the handler: it runs in the context of the logging call."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = _current.get()
        if request_id is not None and not hasattr(record, LOG_FIELD):
            setattr(record, LOG_FIELD, request_id)
        return True
