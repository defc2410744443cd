"""Usage that cannot be rated is kept with its reason; corrected and re-rated, it costs once."""

from __future__ import annotations

from tarif.charging.v1 import charging_pb2 as pb
from tests.integration.harness import Engine, account, eur
from tests.integration.requests import sms

MSISDN = "38640000091"


async def unrated(engine: Engine) -> list[dict[str, str]]:
    return [
        {k.decode(): v.decode() for k, v in fields.items()}
        for _, fields in await engine.redis.xrange("tarif:unrated")
    ]


async def test_unratable_events_are_kept_with_their_reason(engine: Engine) -> None:
    await engine.provision(account("u1", MSISDN, eur("1.00")))
    now = engine.clock.now
    cases = [
        sms("38699999999", "who", now),  # unknown subscriber
        sms(MSISDN, "what", now, service="fax"),  # unknown service type
        sms(MSISDN, "where", now),  # missing rating field (below)
    ]
    del cases[2].attributes["destination"]
    for event in cases:
        answer = await engine.stub.ChargeEvent(event)
        assert answer.result in (pb.USER_UNKNOWN, pb.RATING_FAILED)
    await engine.stub.ChargeEvent(cases[0])  # a retry is not kept twice
    check = sms("38699999999", "probe", now, action=pb.CHECK_BALANCE)
    await engine.stub.ChargeEvent(check)  # a balance check is not usage
    kept = await unrated(engine)
    assert [(e["id"], e["reason"]) for e in kept] == [
        ("e:who", "unknown_subscriber"),
        ("e:what", "unknown_service"),
        ("e:where", "missing_rating_field"),
    ]
    assert (kept[2]["sub"], kept[2]["u"]) == (MSISDN, "1")
    assert "destination" in kept[2]["m"]
    counted = engine.app.metrics.unrated.labels("unknown_subscriber")._value.get()
    assert counted == 1
    assert await engine.balance(MSISDN) == 100


async def test_corrected_and_re_rated_it_is_charged_once(engine: Engine) -> None:
    await engine.provision(account("u2", MSISDN, eur("1.00")))
    lost = sms("38699999998", "late-cdr", engine.clock.now)
    assert (await engine.stub.ChargeEvent(lost)).result == pb.USER_UNKNOWN
    (kept,) = await unrated(engine)
    # The back office corrects the service identifier and re-rates through the same path,
    # with the same event id.
    corrected = sms(MSISDN, kept["id"].removeprefix("e:"), engine.clock.now)
    first = await engine.stub.ChargeEvent(corrected)
    assert (first.result, first.cost.minor_units) == (pb.SUCCESS, 5)
    again = await engine.stub.ChargeEvent(corrected)
    assert again == first
    assert await engine.balance(MSISDN) == 95
    assert [r["id"] for r in await engine.rated_records()] == ["e:late-cdr"]
