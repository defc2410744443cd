"""A ChargeEvents stream survives an invalid event: it is answered INVALID_REQUEST in its own slot,
the others are charged, the stream goes on; only undecodable bytes end it."""

from __future__ import annotations

import grpc
import pytest

from tarif.charging.v1 import charging_pb2 as pb
from tarif_common import keys
from tests.integration.harness import Engine, account, eur
from tests.integration.requests import sms

MSISDN = "38640000071"


async def _unrated(engine: Engine) -> list[str]:
    return [f[b"id"].decode() for _, f in await engine.redis.xrange(keys.UNRATED)]


def _batch_events(engine: Engine) -> float:
    value = engine.app.registry.get_sample_value(
        "tarif_engine_batch_events_total", {"result": "INVALID_REQUEST"}
    )
    return value or 0.0


async def test_a_bad_event_gets_its_own_answer_and_the_stream_goes_on(engine: Engine) -> None:
    await engine.provision(account("sb1", MSISDN, eur("1.00")))
    now = engine.clock.now
    call = engine.stub.ChargeEvents()
    await call.write(
        pb.EventBatch(
            events=[
                sms(MSISDN, "ok-1", now),
                sms(MSISDN, "bad-1", now, units=0),
                sms(MSISDN, "ok-2", now),
            ]
        )
    )
    first = await call.read()
    await call.write(pb.EventBatch(events=[sms(MSISDN, "ok-3", now)]))
    second = await call.read()
    await call.done_writing()

    assert [(a.event_id, a.result) for a in first.answers] == [
        ("ok-1", pb.SUCCESS),
        ("bad-1", pb.INVALID_REQUEST),
        ("ok-2", pb.SUCCESS),
    ]
    bad = first.answers[1]
    assert bad.diameter_result_code == 5004
    assert bad.message == "events[1].units: must be at least 1"
    assert (bad.granted_units, bad.HasField("cost"), list(bad.impacts)) == (0, False, [])
    assert [(a.event_id, a.result) for a in second.answers] == [("ok-3", pb.SUCCESS)]
    assert await engine.balance(MSISDN) == 100 - 3 * 5  # three SMS at 0.05, the bad one nothing
    records = await engine.rated_records()
    assert sorted(r["id"] for r in records) == ["e:ok-1", "e:ok-2", "e:ok-3"]
    # nothing was stored under the bad event's id: sent again, valid, it is charged
    call = engine.stub.ChargeEvents()
    await call.write(pb.EventBatch(events=[sms(MSISDN, "bad-1", now)]))
    (again,) = (await call.read()).answers
    await call.done_writing()
    assert again.result == pb.SUCCESS
    assert await engine.balance(MSISDN) == 80


async def test_every_kind_of_bad_event_is_answered_in_its_slot(engine: Engine) -> None:
    """Failures of the conversion (timestamp, action) and of the checks alike; an invalid event
    is not usage, so unlike an unknown subscriber it is not kept as unratable."""
    await engine.provision(account("sb2", MSISDN, eur("1.00")))
    now = engine.clock.now
    bad_time = sms(MSISDN, "t-1", now)
    bad_time.event_time.nanos = -5
    events = [
        sms("nobody", "u-1", now),  # valid but unknown: unratable usage, kept
        sms("nobody", "u-2", now, units=0),  # invalid (and unknown): not usage, not kept
        bad_time,
        sms(MSISDN, "a-1", now, action=7),
        sms(MSISDN, "id with spaces", now),
        sms(MSISDN, "f-1", now + 86400),
        sms(MSISDN, "ok-1", now),
    ]
    before = _batch_events(engine)
    call = engine.stub.ChargeEvents()
    await call.write(pb.EventBatch(events=events))
    answer = await call.read()
    await call.done_writing()
    assert [(a.event_id, a.result, a.message.split(":")[0]) for a in answer.answers] == [
        ("u-1", pb.USER_UNKNOWN, "unknown subscriber"),
        ("u-2", pb.INVALID_REQUEST, "events[1].units"),
        ("t-1", pb.INVALID_REQUEST, "events[2].event_time"),
        ("a-1", pb.INVALID_REQUEST, "events[3].action"),
        ("id with spaces", pb.INVALID_REQUEST, "events[4].event_id"),
        ("f-1", pb.INVALID_REQUEST, "events[5].event_time"),
        ("ok-1", pb.SUCCESS, ""),
    ]
    assert await _unrated(engine) == ["e:u-1"]
    assert await engine.balance(MSISDN) == 95
    assert _batch_events(engine) - before == 5  # counted under their own result


async def test_undecodable_bytes_still_end_the_stream(engine: Engine) -> None:
    """A message that does not decode has no slots to answer: INVALID_ARGUMENT ends the stream,
    after the answers to the batches before it."""
    await engine.provision(account("sb3", MSISDN, eur("1.00")))
    raw = engine.channel.stream_stream(
        "/tarif.charging.v1.ChargingService/ChargeEvents",
        request_serializer=lambda b: b,
        response_deserializer=pb.EventBatchAnswer.FromString,
    )
    call = raw()
    await call.write(
        pb.EventBatch(events=[sms(MSISDN, "ok-1", engine.clock.now)]).SerializeToString()
    )
    (answer,) = (await call.read()).answers
    assert answer.result == pb.SUCCESS
    await call.write(b"\xff\xff\xff\xff\x0f garbage")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await engine.balance(MSISDN) == 95


async def test_a_unary_bad_event_is_still_invalid_argument(engine: Engine) -> None:
    await engine.provision(account("sb4", MSISDN, eur("1.00")))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await engine.stub.ChargeEvent(sms(MSISDN, "bad-1", engine.clock.now, units=0))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "units: must be at least 1"
    assert await engine.balance(MSISDN) == 100
