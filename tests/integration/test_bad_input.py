"""Malformed requests: INVALID_ARGUMENT naming the field, no state change, server keeps serving."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest

from tarif.charging.v1 import charging_pb2 as pb
from tests.integration.harness import Engine, account, eur, ts
from tests.integration.requests import sms, voice

MSISDN = "38640000041"


def _event(**fields: Any) -> Callable[[float], pb.EventRequest]:
    def build(now: float) -> pb.EventRequest:
        request = sms(MSISDN, "bad-1", now)
        for name, value in fields.items():
            setattr(request, name, value)
        return request

    return build


def _bad_time(now: float) -> pb.EventRequest:
    request = sms(MSISDN, "bad-2", now)
    request.event_time.nanos = -5
    return request


def _future(now: float) -> pb.EventRequest:
    return sms(MSISDN, "bad-3", now + 86400)


def _nul_attribute(now: float) -> pb.EventRequest:
    """A NUL cannot be stored in Postgres: charged, its rated record would stop the batch."""
    request = sms(MSISDN, "bad-5", now)
    request.attributes["destination"] = "38640\x00123"
    return request


def _ancient(now: float) -> pb.EventRequest:
    request = sms(MSISDN, "bad-4", now)
    request.event_time.seconds = -62135596800 - 10
    return request


EVENT_CASES = {
    "missing subscriber": (_event(subscriber=""), "subscriber"),
    "empty event id": (_event(event_id=""), "event_id"),
    "bad characters in id": (_event(event_id="a b{}"), "event_id"),
    "id with a trailing newline": (_event(event_id="nl-1\n"), "event_id"),
    "missing service": (_event(service=""), "service"),
    "negative units": (_event(units=-5), "units"),
    "zero units": (_event(units=0), "units"),
    "absurd units": (_event(units=2**62), "units"),
    "nanos out of range": (_bad_time, "event_time"),
    "far future": (_future, "event_time"),
    "before year 1": (_ancient, "event_time"),
    "unknown action": (_event(action=7), "action"),
    "NUL in an attribute": (_nul_attribute, "attributes"),
}


@pytest.fixture
async def funded(engine: Engine) -> Engine:
    await engine.provision(account("bad", MSISDN, eur("10.00")))
    return engine


async def _assert_untouched(engine: Engine) -> None:
    assert await engine.balance(MSISDN) == 1000
    assert await engine.rated_records() == []
    ok = await engine.stub.ChargeEvent(
        sms(MSISDN, "after", engine.clock.now, action=pb.PRICE_ENQUIRY)
    )
    assert ok.result == pb.SUCCESS  # still serving


@pytest.mark.parametrize("case", sorted(EVENT_CASES))
async def test_bad_event(funded: Engine, case: str) -> None:
    build, field = EVENT_CASES[case]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await funded.stub.ChargeEvent(build(funded.clock.now))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(field)
    await _assert_untouched(funded)


@pytest.mark.parametrize(
    ("method", "fields", "field"),
    [
        ("StartSession", {"session_id": ""}, "session_id"),
        ("StartSession", {"requested_units": -1}, "requested_units"),
        ("StartSession", {"used_units": 10}, "used_units"),
        ("UpdateSession", {"used_units": -60}, "used_units"),
        ("EndSession", {"requested_units": 60}, "requested_units"),
        ("UpdateSession", {"subscriber": ""}, "subscriber"),
    ],
)
async def test_bad_session_request(
    funded: Engine, method: str, fields: dict[str, Any], field: str
) -> None:
    request = voice(MSISDN, "bad-s", 0, funded.clock.now)
    for name, value in fields.items():
        setattr(request, name, value)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await getattr(funded.stub, method)(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(field)
    await _assert_untouched(funded)


async def test_undecodable_bytes(funded: Engine) -> None:
    raw = funded.channel.unary_unary(
        "/tarif.charging.v1.ChargingService/ChargeEvent",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await raw(b"\xff\xff\xff\xff\x0f garbage")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await _assert_untouched(funded)


async def test_a_bad_event_in_a_batch_is_answered_in_its_slot(funded: Engine) -> None:
    """Unlike a unary call, a batch goes on: the bad event's slot says which field (more in
    test_stream_bad_events.py)."""
    batch = pb.EventBatch(events=[sms(MSISDN, "bad", funded.clock.now, units=-1)])
    call = funded.stub.ChargeEvents()
    await call.write(batch)
    (answer,) = (await call.read()).answers
    await call.done_writing()
    assert (answer.result, answer.diameter_result_code) == (pb.INVALID_REQUEST, 5004)
    assert answer.message.startswith("events[0].units")
    await _assert_untouched(funded)


async def test_unknown_service_and_missing_rating_field_are_rating_failures(funded: Engine) -> None:
    unknown = await funded.stub.ChargeEvent(sms(MSISDN, "u-1", funded.clock.now, service="fax"))
    assert (unknown.result, unknown.diameter_result_code) == (pb.RATING_FAILED, 5031)
    assert "fax" in unknown.message
    missing = sms(MSISDN, "u-2", funded.clock.now)
    del missing.attributes["destination"]
    answer = await funded.stub.ChargeEvent(missing)
    assert answer.result == pb.RATING_FAILED
    assert "destination" in answer.message
    await _assert_untouched(funded)


async def test_bad_refund(funded: Engine) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await funded.stub.Refund(
            pb.RefundRequest(subscriber=MSISDN, refund_id="", original_event_id="x")
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    request = pb.RefundRequest(
        subscriber=MSISDN, refund_id="r", original_event_id="x", event_time=ts(funded.clock.now)
    )
    request.amount.minor_units = -3
    with pytest.raises(grpc.aio.AioRpcError):
        await funded.stub.Refund(request)
    await _assert_untouched(funded)
