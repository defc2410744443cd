"""An idempotency id reused for a different request is refused (IDEMPOTENCY_CONFLICT), never
answered with another request's stored answer; the same request still gets its stored answer."""

from __future__ import annotations

import msgpack  # type: ignore[import-untyped]

from tarif.charging.v1 import charging_pb2 as pb
from tests.integration.harness import Engine, account, eur
from tests.integration.requests import sms, voice

MSISDN, OTHER = "38640000081", "38640000082"


async def _stored(engine: Engine, request_id: str) -> tuple[str, dict[str, object]]:
    (key,) = await engine.redis.keys(f"tarif:*:i:*:{request_id}")
    return key.decode(), msgpack.unpackb(await engine.redis.get(key), raw=False)


async def test_an_event_id_reused_for_another_event_is_refused(engine: Engine) -> None:
    await engine.provision(account("ic1", MSISDN, eur("1.00"), services=[MSISDN, OTHER]))
    now = engine.clock.now
    first = await engine.stub.ChargeEvent(sms(MSISDN, "e-1", now))
    assert first.result == pb.SUCCESS
    assert await engine.stub.ChargeEvent(sms(MSISDN, "e-1", now)) == first  # a true retry
    elsewhere = sms(MSISDN, "e-1", now)
    elsewhere.attributes["destination"] = "38641999999"
    different = [
        sms(MSISDN, "e-1", now, units=2),
        elsewhere,
        sms(OTHER, "e-1", now),  # another service of the same account: the same id space
        sms(MSISDN, "e-1", now + 1),
    ]
    for request in different:
        answer = await engine.stub.ChargeEvent(request)
        assert (answer.result, answer.diameter_result_code) == (pb.IDEMPOTENCY_CONFLICT, 5012)
        assert answer.message == "event_id e-1 was already used for a different request"
        assert (answer.granted_units, answer.HasField("cost"), list(answer.impacts)) == (
            0,
            False,
            [],
        )
    assert await engine.balance(MSISDN) == 95  # charged once, by the first
    assert [r["id"] for r in await engine.rated_records()] == ["e:e-1"]
    assert await engine.stub.ChargeEvent(sms(MSISDN, "e-1", now)) == first  # still the first's
    _, kept = await _stored(engine, "e:e-1")
    assert (kept["r"], len(str(kept["h"]))) == (pb.SUCCESS, 16)  # nothing stored over it


async def test_a_conflict_in_a_batch_is_answered_in_its_slot(engine: Engine) -> None:
    await engine.provision(account("ic2", MSISDN, eur("1.00")))
    now = engine.clock.now
    await engine.stub.ChargeEvent(sms(MSISDN, "e-1", now))
    call = engine.stub.ChargeEvents()
    await call.write(
        pb.EventBatch(events=[sms(MSISDN, "e-1", now, units=3), sms(MSISDN, "e-2", now)])
    )
    answer = await call.read()
    await call.done_writing()
    assert [(a.event_id, a.result) for a in answer.answers] == [
        ("e-1", pb.IDEMPOTENCY_CONFLICT),
        ("e-2", pb.SUCCESS),
    ]
    assert await engine.balance(MSISDN) == 90


async def test_an_event_time_the_client_did_not_state_is_not_compared(engine: Engine) -> None:
    """Without event_time the engine uses its "now", which a retry does not repeat."""
    await engine.provision(account("ic3", MSISDN, eur("1.00")))
    request = sms(MSISDN, "e-1", engine.clock.now)
    request.ClearField("event_time")
    first = await engine.stub.ChargeEvent(request)
    engine.clock.advance(30)
    assert await engine.stub.ChargeEvent(request) == first
    assert await engine.balance(MSISDN) == 95


async def test_enquiries_store_nothing_so_they_never_conflict(engine: Engine) -> None:
    await engine.provision(account("ic4", MSISDN, eur("1.00")))
    now = engine.clock.now
    await engine.stub.ChargeEvent(sms(MSISDN, "e-1", now))
    for action in (pb.PRICE_ENQUIRY, pb.CHECK_BALANCE):
        asked = await engine.stub.ChargeEvent(sms(MSISDN, "e-1", now, units=4, action=action))
        assert (asked.result, asked.cost.minor_units) == (pb.SUCCESS, 20)
    assert await engine.balance(MSISDN) == 95


async def test_a_session_request_number_reused_for_another_report_is_refused(
    engine: Engine,
) -> None:
    await engine.provision(account("ic5", MSISDN, eur("10.00")))
    t = engine.clock.now
    await engine.stub.StartSession(voice(MSISDN, "s1", 0, t, requested=300))
    update = voice(MSISDN, "s1", 1, t + 60, requested=300, used=60)
    engine.clock.now = t + 60
    first = await engine.stub.UpdateSession(update)
    assert first.result == pb.SUCCESS
    balance = await engine.balance(MSISDN)
    records = len(await engine.rated_records())
    assert await engine.stub.UpdateSession(update) == first
    other = voice(MSISDN, "s1", 1, t + 60, requested=300, used=120)
    answer = await engine.stub.UpdateSession(other)
    assert (answer.result, answer.diameter_result_code) == (pb.IDEMPOTENCY_CONFLICT, 5012)
    assert (
        answer.message == "request_number 1 of session s1 was already used for a different request"
    )
    start_again = voice(MSISDN, "s1", 0, t, requested=60)  # request 0 with another grant asked
    assert (await engine.stub.StartSession(start_again)).result == pb.IDEMPOTENCY_CONFLICT
    ended_as_1 = voice(MSISDN, "s1", 1, t + 60, used=60)  # an End under the Update's number
    assert (await engine.stub.EndSession(ended_as_1)).result == pb.IDEMPOTENCY_CONFLICT
    assert await engine.balance(MSISDN) == balance
    assert len(await engine.rated_records()) == records
    ended = await engine.stub.EndSession(voice(MSISDN, "s1", 2, t + 90, used=30))
    assert ended.result == pb.SUCCESS
    # 90 s, rated in started minutes at 0.12: the conflicts moved nothing
    assert await engine.balance(MSISDN) == 1000 - 24


async def test_a_refund_id_reused_for_another_amount_is_refused(engine: Engine) -> None:
    await engine.provision(account("ic6", MSISDN, eur("1.00")))
    await engine.stub.ChargeEvent(sms(MSISDN, "e-1", engine.clock.now, units=4))  # 0.20
    assert await engine.balance(MSISDN) == 80

    def refund(minor_units: int, original: str = "e-1") -> pb.RefundRequest:
        return pb.RefundRequest(
            subscriber=MSISDN,
            refund_id="rf-1",
            original_event_id=original,
            amount=pb.Money(currency="EUR", minor_units=minor_units, decimals=2),
        )

    first = await engine.stub.Refund(refund(5))
    assert (first.result, first.refunded.minor_units) == (pb.SUCCESS, 5)
    assert await engine.stub.Refund(refund(5)) == first
    for other in (
        refund(10),
        refund(5, "e-2"),
        pb.RefundRequest(subscriber=MSISDN, refund_id="rf-1", original_event_id="e-1"),
    ):
        answer = await engine.stub.Refund(other)
        assert (answer.result, answer.diameter_result_code) == (pb.IDEMPOTENCY_CONFLICT, 5012)
        assert answer.message == "refund_id rf-1 was already used for a different request"
        assert not answer.HasField("refunded")
    assert await engine.balance(MSISDN) == 85
    assert sorted(r["k"] for r in await engine.rated_records()) == ["event", "refund"]
    # the refund kept its bookkeeping on the event's stored answer without losing the event's
    # fingerprint: the event's retry is still a replay, another body under its id a conflict
    _, event = await _stored(engine, "e:e-1")
    assert (event["rf"], len(str(event["h"]))) == (5, 16)
    again = await engine.stub.ChargeEvent(sms(MSISDN, "e-1", engine.clock.now, units=4))
    assert again.result == pb.SUCCESS
    assert (await engine.stub.ChargeEvent(sms(MSISDN, "e-1", engine.clock.now))).result == (
        pb.IDEMPOTENCY_CONFLICT
    )
    assert await engine.balance(MSISDN) == 85


async def test_answers_stored_before_fingerprints_replay_as_before(engine: Engine) -> None:
    """An answer without `h` (kept by an engine before this check) is returned to any request
    under its id, as it always was."""
    await engine.provision(account("ic7", MSISDN, eur("10.00")))
    t = engine.clock.now
    first = await engine.stub.ChargeEvent(sms(MSISDN, "e-1", t))
    started = await engine.stub.StartSession(voice(MSISDN, "s1", 0, t, requested=60))
    refund = pb.RefundRequest(subscriber=MSISDN, refund_id="rf-1", original_event_id="e-1")
    refunded = await engine.stub.Refund(refund)
    for request_id in ("e:e-1", "s:s1#0", "r:rf-1"):
        key, answer = await _stored(engine, request_id)
        del answer["h"]
        await engine.redis.set(key, msgpack.packb(answer, use_bin_type=False), keepttl=True)
    balance = await engine.balance(MSISDN)
    assert await engine.stub.ChargeEvent(sms(MSISDN, "e-1", t, units=7)) == first
    assert await engine.stub.StartSession(voice(MSISDN, "s1", 0, t, requested=120)) == started
    refund.amount.CopyFrom(pb.Money(currency="EUR", minor_units=1, decimals=2))
    assert await engine.stub.Refund(refund) == refunded
    assert await engine.balance(MSISDN) == balance
