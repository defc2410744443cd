"""Hand-encoded `EventRequest` / `EventBatch` bytes for the load generators.

Why not build protobuf messages: on a 2-core machine the generator shares the CPU with the engine
and Redis, so every microsecond it spends is taken from what we measure. Only the subscriber, the
event id and the time change between requests; the rest is a constant byte string. The encoding
is checked against the generated protobuf classes once per process (`self_check`).
"""

from __future__ import annotations

import time

from tarif.charging.v1 import charging_pb2 as pb

SERVICE = "sms"
DESTINATION = "38641000000"
ATTRIBUTES = {"destination": DESTINATION}
UNITS = 1


def varint(value: int) -> bytes:
    """Protobuf base-128 varint of a non-negative integer."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    return bytes([tag]) + varint(len(payload)) + payload


def _map_entry() -> bytes:
    entry = _field(0x0A, b"destination") + _field(0x12, DESTINATION.encode())
    return _field(0x2A, entry)


# Field 2 (service) is written after the varying fields 1 and 3: protobuf accepts any order.
_TAIL = _field(0x12, SERVICE.encode()) + _map_entry() + bytes([0x30]) + varint(UNITS)


def event_bytes(subscriber: str, event_id: str, at_ns: int | None = None) -> bytes:
    """One serialized SMS `EventRequest` (DIRECT_DEBITING, event_time = now)."""
    return (
        _field(0x0A, subscriber.encode())
        + _field(0x1A, event_id.encode())
        + stamp_field(at_ns)
        + _TAIL
    )


def stamp_field(at_ns: int | None = None) -> bytes:
    """The encoded `event_time` field (4) for `at_ns` (default now); reusable within a batch."""
    ns = time.time_ns() if at_ns is None else at_ns
    seconds, nanos = divmod(ns, 1_000_000_000)
    stamp = bytes([0x08]) + varint(seconds) + (bytes([0x10]) + varint(nanos) if nanos else b"")
    return _field(0x22, stamp)


class EventEncoder:
    """Pre-encodes the subscriber fields once, so one event costs a few byte concatenations."""

    def __init__(self, subscribers: list[str]) -> None:
        self._subscribers = [_field(0x0A, s.encode()) for s in subscribers]

    def event(self, index: int, event_id: str, stamp: bytes) -> bytes:
        """Event of subscriber number `index` with a `stamp_field()`; ids under 128 bytes."""
        raw = event_id.encode()
        return b"".join((self._subscribers[index], bytes((0x1A, len(raw))), raw, stamp, _TAIL))


def batch_bytes(events: list[bytes]) -> bytes:
    """A serialized `EventBatch` from serialized events (repeated field 1)."""
    return b"".join(_field(0x0A, event) for event in events)


def self_check() -> None:
    """Fail loudly if the hand encoding ever drifts from the contract."""
    ns = 1_763_000_000_123_456_789
    expected = pb.EventRequest(
        subscriber="38660000001",
        service=SERVICE,
        event_id="x-1",
        attributes=ATTRIBUTES,
        units=UNITS,
    )
    expected.event_time.FromNanoseconds(ns)
    got = pb.EventRequest.FromString(event_bytes("38660000001", "x-1", ns))
    if got != expected:
        raise AssertionError(f"hand-encoded EventRequest differs:\n{got}\nvs\n{expected}")
    fast = EventEncoder(["0", "38660000001"]).event(1, "x-1", stamp_field(ns))
    batch = pb.EventBatch.FromString(batch_bytes([event_bytes("38660000001", "x-1", ns), fast]))
    if list(batch.events) != [expected, expected]:
        raise AssertionError("hand-encoded EventBatch differs")
