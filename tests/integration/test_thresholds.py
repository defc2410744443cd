"""Credit-profile thresholds: found in the atomic step, once per crossing, re-armed by a top-up."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from redis.asyncio import Redis

from tarif.charging.v1 import charging_pb2 as pb
from tarif_balances.provisioning import Provisioner
from tarif_common.errors import CatalogError, ProvisioningError
from tests.integration.harness import Engine, account, catalog, eur, ts
from tests.integration.requests import sms, voice, voice_call

MSISDN = "38640000081"


async def notifications(engine: Engine) -> list[dict[str, str]]:
    found = []
    for partition in range(engine.app.partitions):
        for _, fields in await engine.redis.xrange(f"tarif:{{p{partition}}}:notif"):
            found.append({k.decode(): v.decode() for k, v in fields.items()})
    return found


async def test_80_percent_fires_exactly_once_under_200_concurrent_events(engine: Engine) -> None:
    await engine.provision(account("t1", MSISDN, eur("10.00"), credit_profile="standard"))
    answers = await asyncio.gather(
        *(engine.stub.ChargeEvent(sms(MSISDN, f"t-{i}", engine.clock.now)) for i in range(200))
    )
    assert Counter(a.result for a in answers) == {pb.SUCCESS: 200}
    assert await engine.balance(MSISDN) == 0
    (fired,) = await notifications(engine)
    assert (fired["th"], fired["k"], fired["res"]) == ("credit-80", "credit_low", "EUR")
    assert (fired["level"], fired["value"], fired["dir"]) == ("200", "200", "f")
    assert (fired["acct"], fired["sub"], fired["ch"]) == ("t1", MSISDN, "email,sms")
    assert fired["id"].startswith("e:t-")
    assert engine.app.metrics.thresholds_fired._value.get() == 1


async def test_a_top_up_re_arms_the_threshold(engine: Engine) -> None:
    await engine.provision(account("t2", MSISDN, eur("1.00"), credit_profile="standard"))
    for i in range(20):  # 1.00 -> 0.00: the 16th SMS reaches 0.20, the 80 % point
        await engine.stub.ChargeEvent(sms(MSISDN, f"a-{i}", engine.clock.now))
    await engine.provision(account("t2", MSISDN, eur("1.00"), credit_profile="standard"))
    for i in range(20):
        await engine.stub.ChargeEvent(sms(MSISDN, f"b-{i}", engine.clock.now))
    fired = [n for n in await notifications(engine) if n["th"] == "credit-80"]
    assert [n["id"] for n in fired] == ["e:a-15|credit-80", "e:b-15|credit-80"]


async def test_a_refund_crosses_a_rising_threshold(engine: Engine) -> None:
    await engine.provision(account("t3", MSISDN, eur("10.00"), credit_profile="standard"))
    call = voice_call(MSISDN, "big", engine.clock.now, 3000)
    assert (await engine.stub.ChargeEvent(call)).cost.minor_units == 600  # 10.00 -> 4.00
    assert await notifications(engine) == []  # 4.00 is above the 80 % point (2.00)
    refund = pb.RefundRequest(
        subscriber=MSISDN, refund_id="rf", original_event_id="big", event_time=ts(engine.clock.now)
    )
    assert (await engine.stub.Refund(refund)).refunded.minor_units == 600
    (fired,) = await notifications(engine)
    assert (fired["th"], fired["dir"], fired["value"], fired["id"]) == (
        "above-5",
        "r",
        "1000",
        "r:rf|above-5",
    )


async def test_a_session_commit_crosses_the_postpaid_limit_threshold(engine: Engine) -> None:
    postpaid = account(
        "t4",
        MSISDN,
        eur("0", credit_limit="10.00"),
        payment_type="postpaid",
        credit_profile="postpaid",
    )
    await engine.provision(postpaid)
    t = engine.clock.now
    await engine.stub.StartSession(voice(MSISDN, "s", 0, t, requested=300))
    for n in range(1, 4):  # 5 minutes each: owed 0.60, 1.20, ... 8.40 crosses 8.00 (80 %)
        engine.clock.advance(300)
        await engine.stub.UpdateSession(
            voice(MSISDN, "s", n, engine.clock.now, used=300, requested=300)
        )
    engine.clock.advance(300)
    await engine.stub.EndSession(voice(MSISDN, "s", 4, engine.clock.now, used=300))
    assert await engine.balance(MSISDN) == -240
    assert await notifications(engine) == []
    await engine.provision(
        account(
            "t4",
            MSISDN,
            eur("-7.50", credit_limit="10.00"),
            payment_type="postpaid",
            credit_profile="postpaid",
        )
    )
    await engine.stub.StartSession(voice(MSISDN, "s2", 0, engine.clock.now, requested=300))
    engine.clock.advance(300)
    await engine.stub.EndSession(voice(MSISDN, "s2", 1, engine.clock.now, used=300))
    (fired,) = await notifications(engine)
    assert (fired["th"], fired["level"], fired["value"], fired["id"]) == (
        "owed-80",
        "-800",
        "-810",
        "s:s2#1|owed-80",
    )


@pytest.mark.parametrize(
    ("threshold", "message"),
    [
        ({"resource": "GOLD"}, "unknown resource"),
        ({"value": 101}, "between 0 and 100"),
        ({"basis": "percent_of_limit", "resource": "sms_count"}, "needs a money resource"),
        ({"basis": "absolute", "value": "1.005"}, "decimal"),
        ({"channels": ["pigeon"]}, "must be one of"),
        ({"direction": "sideways"}, "falling or rising"),
    ],
)
async def test_bad_thresholds_are_refused(
    redis: Redis, threshold: dict[str, object], message: str
) -> None:
    doc = catalog()
    doc["credit_profiles"]["standard"]["thresholds"][0].update(threshold)
    with pytest.raises(CatalogError, match=message):
        await Provisioner(redis, 4).apply({"catalog": doc, "accounts": []})
    assert await redis.keys("*") == []


async def test_unknown_credit_profile_is_refused(redis: Redis) -> None:
    bad = account("t5", MSISDN, eur("1.00"), credit_profile="gold")
    with pytest.raises(ProvisioningError, match="unknown credit profile"):
        await Provisioner(redis, 4).apply({"catalog": catalog(), "accounts": [bad]})
    assert await redis.keys("*") == []
