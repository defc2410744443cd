"""Session lifecycle: abandoned reservations expire, out-of-order and unknown sessions."""

from __future__ import annotations

from engine.housekeeping import Sweeper
from tarif.charging.v1 import charging_pb2 as pb
from tests.integration.harness import Engine, account, eur
from tests.integration.requests import sms, voice


async def reserved(engine: Engine, msisdn: str) -> int:
    report = await engine.stub.GetBalances(pb.BalanceQuery(subscriber=msisdn))
    return sum(b.reserved for b in report.balances)


async def test_abandoned_session_is_released_by_the_sweeper(engine: Engine) -> None:
    await engine.provision(account("e1", "38640000031", eur("1.20")))
    start = await engine.stub.StartSession(
        voice("38640000031", "gone", 0, engine.clock.now, requested=600)
    )
    assert (start.granted_units, start.validity_time) == (600, 300)
    assert await reserved(engine, "38640000031") == 120
    sweeper = Sweeper(engine.app.store, engine.app.partitions, engine.app.metrics, engine.clock)
    engine.clock.advance(300)  # validity passed, grace (30 s) not yet
    assert await sweeper.run_once() == 0
    engine.clock.advance(31)
    assert await sweeper.run_once() == 1
    assert await reserved(engine, "38640000031") == 0
    assert await engine.balance("38640000031") == 120  # nothing charged: usage never reported
    late = await engine.stub.UpdateSession(
        voice("38640000031", "gone", 1, engine.clock.now, used=60)
    )
    assert late.result == pb.SESSION_UNKNOWN
    assert late.diameter_result_code == 5002
    kinds = [r["k"] for r in await engine.rated_records()]
    assert kinds == ["expired"]


async def test_expired_reservation_is_released_lazily_when_the_account_charges(
    engine: Engine,
) -> None:
    await engine.provision(account("e2", "38640000032", eur("0.12")))
    held_call = await engine.stub.StartSession(
        voice("38640000032", "held", 0, engine.clock.now, requested=60)
    )
    assert held_call.granted_units == 60
    held = await engine.stub.ChargeEvent(sms("38640000032", "blocked", engine.clock.now))
    assert held.result == pb.CREDIT_LIMIT_REACHED  # the session holds the whole balance
    engine.clock.advance(331)
    freed = await engine.stub.ChargeEvent(sms("38640000032", "freed", engine.clock.now))
    assert freed.result == pb.SUCCESS
    assert await engine.balance("38640000032") == 7


async def test_unknown_and_out_of_order_requests(engine: Engine) -> None:
    await engine.provision(account("e3", "38640000033", eur("10.00")))
    t = engine.clock.now
    unknown = await engine.stub.UpdateSession(voice("38640000033", "never", 1, t, used=10))
    assert unknown.result == pb.SESSION_UNKNOWN
    await engine.stub.StartSession(voice("38640000033", "s", 0, t, requested=60))
    await engine.stub.UpdateSession(voice("38640000033", "s", 2, t, requested=60, used=60))
    stale = await engine.stub.UpdateSession(voice("38640000033", "s", 1, t, requested=60, used=60))
    assert stale.result == pb.REQUEST_OUT_OF_ORDER
    assert await engine.balance("38640000033") == 1000 - 12
    restart = await engine.stub.StartSession(voice("38640000033", "s", 5, t, requested=60))
    assert restart.result == pb.REQUEST_OUT_OF_ORDER


async def test_end_releases_what_was_not_used(engine: Engine) -> None:
    await engine.provision(account("e4", "38640000034", eur("10.00")))
    t = engine.clock.now
    await engine.stub.StartSession(voice("38640000034", "s", 0, t, requested=3000))
    assert await reserved(engine, "38640000034") == 600
    end = await engine.stub.EndSession(voice("38640000034", "s", 1, t + 61, used=61))
    assert end.cost.minor_units == 24
    assert await reserved(engine, "38640000034") == 0
    assert await engine.balance("38640000034") == 1000 - 24


async def test_unknown_subscriber(engine: Engine) -> None:
    answer = await engine.stub.StartSession(voice("999", "s", 0, engine.clock.now, requested=60))
    assert (answer.result, answer.diameter_result_code) == (pb.USER_UNKNOWN, 5030)
    report = await engine.stub.GetBalances(pb.BalanceQuery(subscriber="999"))
    assert report.result == pb.USER_UNKNOWN


async def test_suspended_account_is_denied(engine: Engine) -> None:
    await engine.provision(account("e5", "38640000035", eur("10.00"), status="suspended"))
    answer = await engine.stub.ChargeEvent(sms("38640000035", "x", engine.clock.now))
    assert (answer.result, answer.diameter_result_code) == (pb.END_USER_SERVICE_DENIED, 4010)
    assert await engine.balance("38640000035") == 1000


async def test_a_start_without_credit_opens_no_session(engine: Engine) -> None:
    await engine.provision(account("e6", "38640000036", eur("0.00")))
    start = await engine.stub.StartSession(
        voice("38640000036", "broke", 0, engine.clock.now, requested=60)
    )
    assert (start.result, start.granted_units, start.validity_time) == (
        pb.CREDIT_LIMIT_REACHED,
        0,
        0,
    )
    expiring = [
        await engine.redis.zcard(f"tarif:{{p{p}}}:sexp") for p in range(engine.app.partitions)
    ]
    assert sum(expiring) == 0
    stats = [
        await engine.redis.hget(f"tarif:{{p{p}}}:stats", "open")
        for p in range(engine.app.partitions)
    ]
    assert all(value in (None, b"0") for value in stats)
    end = await engine.stub.EndSession(voice("38640000036", "broke", 1, engine.clock.now))
    assert end.result == pb.SESSION_UNKNOWN


async def test_a_start_without_a_request_opens_a_session(engine: Engine) -> None:
    await engine.provision(account("e7", "38640000037", eur("1.00")))
    start = await engine.stub.StartSession(voice("38640000037", "later", 0, engine.clock.now))
    assert (start.result, start.granted_units) == (pb.SUCCESS, 0)
    update = await engine.stub.UpdateSession(
        voice("38640000037", "later", 1, engine.clock.now, requested=60)
    )
    assert (update.result, update.granted_units) == (pb.SUCCESS, 60)
