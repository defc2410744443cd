"""The in-process batched path charges every benchmark event and answers the same each time."""

from __future__ import annotations

import msgpack  # type: ignore[import-untyped]

from loadtest.batch_path import FREE_SMS, FREE_VOICE, MONEY_SMS, MONEY_VOICE, STAGES, _round
from tarif_common.results import Result


async def test_a_round_charges_every_event_and_is_repeatable() -> None:
    first = await _round(40, 2, seed=3)
    assert first["results"] == {int(Result.SUCCESS): 120}  # the warm-up batch too
    assert set(first["per_event_us"]) == set(STAGES)
    assert first["total_us"] > 0
    again = await _round(40, 2, seed=3)
    assert again["digest"] == first["digest"]  # same arguments packed, same answers
    assert (await _round(40, 2, seed=4))["digest"] != first["digest"]


async def test_voice_calls_are_charged_too() -> None:
    calls = await _round(40, 1, seed=3, service="voice")
    assert calls["results"] == {int(Result.SUCCESS): 80}


def test_the_recorded_answers_are_event_lua_s() -> None:
    free, money = msgpack.unpackb(FREE_SMS), msgpack.unpackb(MONEY_SMS)
    assert (free["r"], free["imp"], free["c"]) == (1, [["sms", "sms_count", -1]], 0)
    assert (money["r"], money["imp"], money["c"]) == (1, [["main", "EUR", -5]], 5)
    free, money = msgpack.unpackb(FREE_VOICE), msgpack.unpackb(MONEY_VOICE)
    assert (free["imp"], free["rt"]) == ([["voice", "voice_seconds", -75]], "voice-std:386")
    assert (money["imp"], money["c"]) == ([["main", "EUR", -4]], 4)
