"""Request builders shared by the integration tests."""

from __future__ import annotations

from tarif.charging.v1 import charging_pb2 as pb
from tests.integration.harness import ts

ITALY = {"destination": "393331234567", "origin": "38640111222"}


def session(
    msisdn: str,
    sid: str,
    n: int,
    at: float,
    *,
    service: str,
    attributes: dict[str, str],
    requested: int = 0,
    used: int = 0,
) -> pb.SessionRequest:
    return pb.SessionRequest(
        subscriber=msisdn,
        service=service,
        session_id=sid,
        request_number=n,
        event_time=ts(at),
        attributes=attributes,
        requested_units=requested,
        used_units=used,
    )


def voice(
    msisdn: str, sid: str, n: int, at: float, *, requested: int = 0, used: int = 0
) -> pb.SessionRequest:
    """A voice session step of a call to Italy."""
    return session(
        msisdn, sid, n, at, service="voice", attributes=ITALY, requested=requested, used=used
    )


def sms(msisdn: str, event_id: str, at: float, **fields: object) -> pb.EventRequest:
    request = pb.EventRequest(
        subscriber=msisdn,
        service="sms",
        event_id=event_id,
        event_time=ts(at),
        attributes={"destination": "38641000000"},
        units=1,
    )
    for name, value in fields.items():
        setattr(request, name, value)
    return request


def voice_call(msisdn: str, event_id: str, at: float, seconds: int) -> pb.EventRequest:
    """A one-shot voice call to Italy, charged as an event."""
    return pb.EventRequest(
        subscriber=msisdn,
        service="voice",
        event_id=event_id,
        units=seconds,
        attributes={"destination": "39333"},
        event_time=ts(at),
    )
