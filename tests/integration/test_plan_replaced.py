"""A subscriber moved to a new plan while the old plan leaves the catalog, in one change.

The engine's cached route still names the old plan; rating must read the route again from Redis
rather than answer RATING_FAILED "unknown plan" and keep the usage as unratable.
"""

from __future__ import annotations

from typing import Any

from tarif.charging.v1 import charging_pb2 as pb
from tests.integration.harness import Engine, account, catalog, eur
from tests.integration.requests import sms, voice

MSISDN = "38640000301"


def without_basic() -> dict[str, Any]:
    """The demo catalog with `basic` replaced by `gold`, whose SMS costs 0.08 and calls 0.30."""
    doc = catalog()
    del doc["plans"]["basic"]
    doc["tariffs"]["sms-gold"] = {
        "service": "sms",
        "currency": "EUR",
        "rates": [{"prefix": "", "price": "0.08", "per": 1}],
    }
    doc["tariffs"]["voice-gold"] = {
        "service": "voice",
        "currency": "EUR",
        "rates": [{"prefix": "", "price": "0.30", "per": 60, "increment": [60, 60]}],
    }
    doc["plans"]["gold"] = {"tariffs": {"voice": "voice-gold", "sms": "sms-gold"}}
    return doc


async def unrated(engine: Engine) -> list[Any]:
    return list(await engine.redis.xrange("tarif:unrated"))


async def moved_to_gold(engine: Engine, *msisdns: str) -> None:
    """Charge each once on `basic` (its route is cached), then replace the plan in one change."""
    await engine.provision(*(account(f"a{m}", m, eur("5.00")) for m in msisdns))
    for msisdn in msisdns:
        first = await engine.stub.ChargeEvent(sms(msisdn, f"before-{msisdn}", engine.clock.now))
        assert (first.result, first.cost.minor_units) == (pb.SUCCESS, 5)
    moved = [{**account(f"a{m}", m, eur("5.00")), "plan": "gold"} for m in msisdns]
    await engine.provision(*moved, catalog_doc=without_basic())


async def test_an_event_after_the_plan_is_replaced_is_rated_at_the_new_plan(
    engine: Engine,
) -> None:
    await moved_to_gold(engine, MSISDN)
    answer = await engine.stub.ChargeEvent(sms(MSISDN, "after", engine.clock.now))
    assert (answer.result, answer.cost.minor_units) == (pb.SUCCESS, 8), answer.message
    assert await unrated(engine) == []


async def test_a_batch_after_the_plan_is_replaced_is_rated_at_the_new_plan(
    engine: Engine,
) -> None:
    other = "38640000302"
    await moved_to_gold(engine, MSISDN, other)
    call = engine.stub.ChargeEvents()
    await call.write(
        pb.EventBatch(
            events=[
                sms(MSISDN, "b-1", engine.clock.now),
                sms(other, "b-2", engine.clock.now),
                sms(MSISDN, "b-3", engine.clock.now),
            ]
        )
    )
    answer = await call.read()
    await call.done_writing()
    assert [(a.result, a.cost.minor_units) for a in answer.answers] == [(pb.SUCCESS, 8)] * 3
    assert await unrated(engine) == []


async def test_a_session_started_after_the_plan_is_replaced_uses_the_new_plan(
    engine: Engine,
) -> None:
    await moved_to_gold(engine, MSISDN)
    t = engine.clock.now
    start = await engine.stub.StartSession(voice(MSISDN, "s", 0, t, requested=60))
    assert (start.result, start.granted_units) == (pb.SUCCESS, 60), start.message
    engine.clock.advance(60)
    end = await engine.stub.EndSession(voice(MSISDN, "s", 1, engine.clock.now, used=60))
    assert (end.result, end.session_cost.minor_units) == (pb.SUCCESS, 30)


async def test_a_route_still_on_an_unknown_plan_is_rating_failed(engine: Engine) -> None:
    """Read again once; if Redis still names a plan the catalog lacks, the usage is unratable."""
    await engine.provision(account("stale", MSISDN, eur("5.00")))
    first = await engine.stub.ChargeEvent(sms(MSISDN, "before", engine.clock.now))
    assert first.result == pb.SUCCESS
    # The catalog alone drops `basic`: the account (and its route) still names it.
    await engine.provision(catalog_doc=without_basic())
    answer = await engine.stub.ChargeEvent(sms(MSISDN, "after", engine.clock.now))
    assert (answer.result, answer.message) == (pb.RATING_FAILED, "unknown plan 'basic'")
    ((_, kept),) = await unrated(engine)
    assert kept[b"reason"] == b"no_tariff"
