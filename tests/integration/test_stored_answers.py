"""Stored answers leave out default values, and answers stored in the older full form (every
field, defaults included) still replay and still carry the refund bookkeeping."""

from __future__ import annotations

from typing import Any

from tarif.charging.v1 import charging_pb2 as pb
from tarif_balances.scripts import pack, unpack
from tarif_common import keys
from tests.integration.harness import Engine, account, eur, ts
from tests.integration.requests import sms, voice, voice_call

MSISDN = "38640000061"


def refund(refund_id: str, original: str, now: float, cents: int | None = None) -> pb.RefundRequest:
    request = pb.RefundRequest(
        subscriber=MSISDN, refund_id=refund_id, original_event_id=original, event_time=ts(now)
    )
    if cents is not None:
        request.amount.currency, request.amount.minor_units = "EUR", cents
        request.amount.decimals = 2
    return request


async def stored_key(engine: Engine, account_id: str, event_id: str) -> str:
    partition = keys.partition_of(account_id, engine.app.partitions)
    return keys.idempotency(partition, account_id, keys.event_request_id(event_id))


def full_form(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer as event.lua stored it before defaults were left out."""
    defaults = {"imp": [], "bs": [], "rb": [], "n": 0, "x": "", "rd": answer["d"]}
    return defaults | answer


async def test_a_stored_answer_leaves_out_defaults(engine: Engine) -> None:
    await engine.provision(account("s1", MSISDN, eur("10.00")))
    await engine.stub.ChargeEvent(sms(MSISDN, "plain", engine.clock.now))
    stored = unpack(await engine.redis.get(await stored_key(engine, "s1", "plain")))
    assert stored["r"] == pb.SUCCESS
    assert stored["rf"] == 0  # the refund bookkeeping starts at zero: it stays
    assert not {"bs", "rb", "n", "x", "rd"} & stored.keys(), stored
    assert stored["imp"] == [["main", "EUR", -5]]


async def test_an_answer_stored_in_the_full_form_replays_and_refunds(engine: Engine) -> None:
    await engine.provision(account("s2", MSISDN, eur("10.00")))
    now = engine.clock.now
    first = await engine.stub.ChargeEvent(voice_call(MSISDN, "call", now, 600))
    assert (first.result, first.cost.minor_units) == (pb.SUCCESS, 120)
    key = await stored_key(engine, "s2", "call")
    ttl = await engine.redis.ttl(key)
    answer = unpack(await engine.redis.get(key))
    old = full_form(answer)
    assert old.keys() > answer.keys()
    await engine.redis.set(key, pack(old), ex=ttl)

    again = await engine.stub.ChargeEvent(voice_call(MSISDN, "call", now, 600))
    assert again == first  # the replay reads the full form as the compact one
    assert await engine.balance(MSISDN) == 1000 - 120

    part = await engine.stub.Refund(refund("p1", "call", now, 50))
    assert (part.result, part.refunded.minor_units) == (pb.SUCCESS, 50)
    rest = await engine.stub.Refund(refund("p2", "call", now))
    assert (rest.result, rest.refunded.minor_units) == (pb.SUCCESS, 70)
    done = await engine.stub.Refund(refund("p3", "call", now))
    assert done.result == pb.EVENT_UNKNOWN
    assert await engine.balance(MSISDN) == 1000
    assert unpack(await engine.redis.get(key))["rf"] == 120
    assert 0 < await engine.redis.ttl(key) <= ttl  # the refunds kept the answer's expiry


async def test_answers_are_kept_for_the_refund_or_the_retry_window(engine: Engine) -> None:
    """A charged event's answer lives for the refund window (idempotency_ttl), as does a refund's;
    an event that charged nothing and a session step only for the retry window (retry_ttl)."""
    settings = engine.app.settings
    refund_window, retry_window = settings.idempotency_ttl, settings.retry_ttl
    assert retry_window < refund_window
    await engine.provision(account("s3", MSISDN, eur("0.05")))
    now = engine.clock.now
    assert (await engine.stub.ChargeEvent(sms(MSISDN, "paid", now))).result == pb.SUCCESS
    assert (await engine.stub.ChargeEvent(sms(MSISDN, "broke", now))).result != pb.SUCCESS
    assert (await engine.stub.Refund(refund("back", "paid", now))).result == pb.SUCCESS
    await engine.stub.StartSession(voice(MSISDN, "call", 0, now, requested=60))
    p = keys.partition_of("s3", engine.app.partitions)

    async def ttl(request_id: str) -> int:
        return int(await engine.redis.ttl(keys.idempotency(p, "s3", request_id)))

    assert refund_window - 60 < await ttl(keys.event_request_id("paid")) <= refund_window
    assert refund_window - 60 < await ttl(keys.refund_request_id("back")) <= refund_window
    assert retry_window - 60 < await ttl(keys.event_request_id("broke")) <= retry_window
    step = keys.session_request_id("call", 0)
    assert retry_window - 60 < await ttl(step) <= retry_window
