"""The worked tariff examples of issue #13, end to end: over gRPC, through the Lua step, against
real Redis. Each figure is the one worked out by hand in tests/unit/rating/test_worked_tariffs.py
(its comments show the arithmetic); here the balances, answers and rated records must agree."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from tarif.charging.v1 import charging_pb2 as pb
from tests.integration.harness import Engine, account, eur, ts
from tests.unit.rating.test_worked_tariffs import TARIFFS

PARIS = ZoneInfo("Europe/Paris")
MSISDN = "33100000001"


def at(*local: int) -> float:
    return datetime(*local, tzinfo=PARIS).timestamp()  # type: ignore[misc]


def call(event_id: str, start: float, seconds: int, destination: str = "33123456789") -> Any:
    return pb.EventRequest(
        subscriber=MSISDN,
        service="voice",
        event_id=event_id,
        units=seconds,
        event_time=ts(start),
        attributes={"destination": destination},
    )


def leg(sid: str, n: int, t: float, requested: int = 0, used: int = 0) -> Any:
    return pb.SessionRequest(
        subscriber=MSISDN,
        service="voice",
        session_id=sid,
        request_number=n,
        event_time=ts(t),
        attributes={"destination": "33123456789"},
        requested_units=requested,
        used_units=used,
    )


async def setup(engine: Engine, *balances: dict[str, Any], plan: str = "std") -> None:
    catalog = yaml.safe_load(TARIFFS)
    await engine.provision(
        account("w1", MSISDN, eur("100.00"), *balances, plan=plan), catalog_doc=catalog
    )


async def test_a_call_from_off_peak_into_peak(engine: Engine) -> None:
    await setup(engine)
    start = at(2026, 12, 1, 7, 45)
    engine.clock.now = start + 2100
    answer = await engine.stub.ChargeEvent(call("e1", start, 35 * 60))
    assert (answer.result, answer.cost.minor_units, list(answer.bands)) == (
        pb.SUCCESS, 233, ["offpeak", "peak"],
    )  # fmt: skip
    assert (answer.rate, answer.rated_units) == ("voice:33:offpeak", 2100)
    assert await engine.balance(MSISDN) == 10_000 - 233


async def test_the_same_call_as_a_session_costs_the_same(engine: Engine) -> None:
    await setup(engine)
    t = at(2026, 12, 1, 7, 45)
    engine.clock.now = t
    answers = [await engine.stub.StartSession(leg("s1", 0, t, requested=300))]
    for n in range(1, 7):  # a report every 300 s, then the end at 35 minutes
        engine.clock.advance(300)
        answers.append(await engine.stub.UpdateSession(leg("s1", n, engine.clock.now, 300, 300)))
    engine.clock.advance(300)
    answers.append(await engine.stub.EndSession(leg("s1", 7, engine.clock.now, used=300)))
    assert [a.result for a in answers] == [pb.SUCCESS] * 8
    assert answers[-1].session_cost.minor_units == 233
    assert sum(a.cost.minor_units for a in answers) == 233
    assert [list(a.bands) for a in answers[1:]] == [["offpeak"]] * 3 + [["peak"]] * 4
    assert await engine.balance(MSISDN) == 10_000 - 233


async def test_sunday_night_into_monday_a_holiday_and_a_sip_destination(engine: Engine) -> None:
    await setup(engine)
    cases = [
        ("sun", at(2026, 11, 29, 23, 40), 35 * 60, "33123456789", 90),
        ("xmas", at(2026, 12, 25, 10, 0), 10 * 60, "33123456789", 10),
        ("xmas-night", at(2026, 12, 25, 23, 55), 10 * 60, "33123456789", 20),
        ("sip", at(2026, 12, 1, 10, 0), 10 * 60, "sip:+33612345678@ims.example;user=phone", 150),
        ("voicemail", at(2026, 12, 1, 10, 0), 10 * 60, "sip:voicemail@ims.example", 0),
    ]
    for event_id, start, seconds, destination, cents in cases:
        engine.clock.now = start + seconds
        answer = await engine.stub.ChargeEvent(call(event_id, start, seconds, destination))
        assert (event_id, answer.result, answer.cost.minor_units) == (event_id, pb.SUCCESS, cents)
    records = {r["id"]: r for r in await engine.rated_records()}
    assert records["e:sip"]["rate"] == "voice:336"
    assert records["e:voicemail"]["rate"] == "voice:voicemail@ims.example"


async def test_capped_calls(engine: Engine) -> None:
    await setup(engine)
    start = at(2026, 12, 1, 10, 0)
    engine.clock.now = start + 1200
    free_rest = await engine.stub.ChargeEvent(call("cap", start, 1200, "1555"))
    assert (free_rest.cost.minor_units, free_rest.granted_units) == (100, 1200)
    cut = await engine.stub.ChargeEvent(call("cut", start, 1200, "7495"))
    assert (cut.cost.minor_units, cut.granted_units, cut.rated_units) == (100, 600, 600)
    # a session on the disconnecting rate is granted no more than the cap pays for
    engine.clock.now = start
    first = await engine.stub.StartSession(
        pb.SessionRequest(
            subscriber=MSISDN, service="voice", session_id="s-cap", event_time=ts(start),
            attributes={"destination": "7495"}, requested_units=1200,
        )
    )  # fmt: skip
    assert (first.granted_units, first.final_unit) == (600, True)


async def test_free_minutes_with_and_without_the_connect_fee_waived(engine: Engine) -> None:
    minutes = {"id": "bundle", "resource": "minutes", "amount": 100}
    await setup(engine, minutes)
    start = at(2026, 12, 1, 10, 0)
    engine.clock.now = start + 150
    # per second with a 0.05 fee: 100 free seconds, 50 s paid 0.09 (rounded up once) + 0.05
    paid = await engine.stub.ChargeEvent(call("f1", start, 150))
    assert paid.cost.minor_units == 14
    assert await engine.balance(MSISDN, "bundle") == 0
    waiving = {"id": "waiving", "resource": "minutes", "amount": 100, "waives_connect_fee": True}
    await setup(engine, waiving)
    waived = await engine.stub.ChargeEvent(call("f2", start, 150))
    assert waived.cost.minor_units == 9
    # 60 s steps: 100 free seconds give one whole minute, 40 s stay
    uk = {"id": "uk", "resource": "minutes", "amount": 100}
    await setup(engine, uk)
    steps = await engine.stub.ChargeEvent(call("f3", start, 150, "447700900123"))
    assert (steps.cost.minor_units, steps.rated_units) == (20, 180)
    assert await engine.balance(MSISDN, "uk") == 40


async def test_half_up_against_up_at_four_decimals(engine: Engine) -> None:
    start = at(2026, 12, 1, 10, 0)
    for plan, at_tariff, debited in (("up", 124, 2), ("half-up", 123, 1)):
        await setup(engine, plan=plan)
        engine.clock.now = start + 60
        answer = await engine.stub.ChargeEvent(call(f"r-{plan}", start, 60))
        assert (answer.tariff_cost.minor_units, answer.tariff_cost.decimals) == (at_tariff, 4)
        assert (answer.cost.minor_units, answer.cost.decimals) == (debited, 2)
