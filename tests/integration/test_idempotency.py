"""Every charging RPC replayed with the same id: same answer, no second charge, no second record."""

from __future__ import annotations

from tarif.charging.v1 import charging_pb2 as pb
from tests.integration.harness import Engine, account, eur
from tests.integration.requests import sms, voice


async def test_replayed_session_requests_change_nothing(engine: Engine) -> None:
    await engine.provision(account("r1", "38640000011", eur("10.00")))
    t = engine.clock.now
    requests = [
        ("StartSession", voice("38640000011", "s1", 0, t, requested=300)),
        ("UpdateSession", voice("38640000011", "s1", 1, t + 120, requested=300, used=120)),
        ("EndSession", voice("38640000011", "s1", 2, t + 200, used=80)),
    ]
    for method, request in requests:
        engine.clock.now = request.event_time.seconds + request.event_time.nanos / 1e9
        first = await getattr(engine.stub, method)(request)
        balance = await engine.balance("38640000011")
        records = len(await engine.rated_records())
        for _ in range(3):
            again = await getattr(engine.stub, method)(request)
            assert again == first
        assert await engine.balance("38640000011") == balance
        assert len(await engine.rated_records()) == records
    assert await engine.balance("38640000011") == 1000 - 48  # 4 minutes at 0.12


async def test_replayed_event_and_refund_change_nothing(engine: Engine) -> None:
    await engine.provision(account("r2", "38640000012", eur("1.00")))
    event = sms("38640000012", "evt-1", engine.clock.now)
    first = await engine.stub.ChargeEvent(event)
    assert first.result == pb.SUCCESS
    assert first.cost.minor_units == 5
    assert await engine.stub.ChargeEvent(event) == first
    assert await engine.balance("38640000012") == 95
    refund = pb.RefundRequest(subscriber="38640000012", refund_id="rf-1", original_event_id="evt-1")
    refunded = await engine.stub.Refund(refund)
    assert refunded.result == pb.SUCCESS
    assert refunded.refunded.minor_units == 5
    assert await engine.stub.Refund(refund) == refunded
    assert await engine.balance("38640000012") == 100
    kinds = sorted(r["k"] for r in await engine.rated_records())
    assert kinds == ["event", "refund"]


async def test_replayed_batch_charges_once(engine: Engine) -> None:
    await engine.provision(account("r3", "38640000013", eur("1.00")))
    batch = pb.EventBatch(events=[sms("38640000013", f"b-{i}", engine.clock.now) for i in range(4)])

    async def send() -> list[pb.EventAnswer]:
        call = engine.stub.ChargeEvents()
        await call.write(batch)
        answer = await call.read()
        await call.done_writing()
        return list(answer.answers)

    first = await send()
    assert [a.result for a in first] == [pb.SUCCESS] * 4
    assert await send() == first
    assert await engine.balance("38640000013") == 80
    assert len(await engine.rated_records()) == 4


async def test_a_new_event_id_is_a_new_charge(engine: Engine) -> None:
    """The retry key is the event id: a client that changes it asks for a second charge."""
    await engine.provision(account("r4", "38640000014", eur("1.00")))
    await engine.stub.ChargeEvent(sms("38640000014", "x-1", engine.clock.now))
    await engine.stub.ChargeEvent(sms("38640000014", "x-2", engine.clock.now))
    assert await engine.balance("38640000014") == 90
