"""The worked examples of the charging core, over gRPC against real Redis."""

from __future__ import annotations

from tarif.charging.v1 import charging_pb2 as pb
from tests.integration.harness import Engine, account, eur
from tests.integration.requests import voice as session


async def call_of_1200_seconds(engine: Engine, msisdn: str, sid: str) -> list[pb.SessionAnswer]:
    """11:59 to 12:19, reserving 300 s at a time, each report using the whole grant."""
    t = engine.clock.now
    answers = [await engine.stub.StartSession(session(msisdn, sid, 0, t, requested=300))]
    for n in range(1, 4):
        engine.clock.advance(300)
        answers.append(
            await engine.stub.UpdateSession(
                session(msisdn, sid, n, t + 300 * n, requested=300, used=300)
            )
        )
    engine.clock.advance(300)
    answers.append(await engine.stub.EndSession(session(msisdn, sid, 4, t + 1200, used=300)))
    return answers


async def test_prepaid_voice_call_to_italy_costs_2_40(engine: Engine) -> None:
    await engine.provision(account("a1", "38640000001", eur("10.00")))
    answers = await call_of_1200_seconds(engine, "38640000001", "call-1")
    assert [a.result for a in answers] == [pb.SUCCESS] * 5
    assert [a.granted_units for a in answers[:4]] == [300] * 4
    assert sum(a.cost.minor_units for a in answers) == 240
    assert answers[-1].session_cost.minor_units == 240
    assert answers[-1].session_cost.currency == "EUR"
    assert await engine.balance("38640000001") == 760
    records = await engine.rated_records()
    assert sorted(r["id"] for r in records) == [f"s:call-1#{n}" for n in range(1, 5)]
    assert sum(int(r["cost"]) for r in records) == 240


async def test_free_bundle_pays_the_call_and_money_is_untouched(engine: Engine) -> None:
    bundle = {"id": "bundle", "resource": "voice_seconds", "amount": 6000}
    await engine.provision(account("a2", "38640000002", eur("10.00"), bundle))
    answers = await call_of_1200_seconds(engine, "38640000002", "call-2")
    assert all(a.result == pb.SUCCESS for a in answers)
    assert sum(a.cost.minor_units for a in answers) == 0
    assert await engine.balance("38640000002") == 1000
    assert await engine.balance("38640000002", "bundle") == 6000 - 1200
    impacts = [(i.balance_id, i.amount) for a in answers for i in a.impacts]
    assert impacts == [("bundle", -300)] * 4


async def test_a_1250_second_call_is_charged_21_minutes(engine: Engine) -> None:
    await engine.provision(account("a3", "38640000003", eur("10.00")))
    t = engine.clock.now
    start = await engine.stub.StartSession(session("38640000003", "c3", 0, t, requested=300))
    assert start.granted_units == 300
    for n in range(1, 5):  # reports at 300, 600, 900, 1200 s
        engine.clock.advance(300)
        update = await engine.stub.UpdateSession(
            session("38640000003", "c3", n, engine.clock.now, requested=300, used=300)
        )
        assert update.result == pb.SUCCESS
    engine.clock.advance(50)
    end = await engine.stub.EndSession(session("38640000003", "c3", 5, engine.clock.now, used=50))
    assert end.result == pb.SUCCESS
    assert end.session_cost.minor_units == 21 * 12
    assert await engine.balance("38640000003") == 1000 - 252
    records = await engine.rated_records()
    assert sum(int(r["ru"]) for r in records) == 21 * 60


async def test_credit_runs_out_mid_session(engine: Engine) -> None:
    # 0.50 EUR buys 4 minutes at 0.12 (0.48); the fifth minute is not covered.
    await engine.provision(account("a4", "38640000004", eur("0.50")))
    t = engine.clock.now
    first = await engine.stub.StartSession(session("38640000004", "c4", 0, t, requested=180))
    assert (first.result, first.granted_units, first.final_unit) == (pb.SUCCESS, 180, False)
    engine.clock.advance(180)
    last = await engine.stub.UpdateSession(
        session("38640000004", "c4", 1, t + 180, requested=180, used=180)
    )
    assert last.result == pb.SUCCESS
    assert last.granted_units == 60
    assert last.final_unit
    engine.clock.advance(60)
    denied = await engine.stub.UpdateSession(
        session("38640000004", "c4", 2, t + 240, requested=180, used=60)
    )
    assert denied.result == pb.CREDIT_LIMIT_REACHED
    assert denied.diameter_result_code == 4012
    assert denied.granted_units == 0
    end = await engine.stub.EndSession(session("38640000004", "c4", 3, t + 240))
    assert end.result == pb.SUCCESS
    assert end.session_cost.minor_units == 48
    assert await engine.balance("38640000004") == 2
