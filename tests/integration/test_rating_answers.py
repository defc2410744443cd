"""What the answers say of the rating (rated units, tariff, rate, prefix, bands, cost at the
tariff's decimals), over gRPC; and the events too large to price exactly, refused before Lua."""

from __future__ import annotations

from tarif.charging.v1 import charging_pb2 as pb
from tests.integration.harness import Engine, account, eur, ts
from tests.integration.requests import voice, voice_call

MSISDN = "38640000081"


def call_to(destination: str, event_id: str, at: float, seconds: int) -> pb.EventRequest:
    request = voice_call(MSISDN, event_id, at, seconds)
    request.attributes["destination"] = destination
    return request


def data(event_id: str, at: float, units: int) -> pb.EventRequest:
    return pb.EventRequest(
        subscriber=MSISDN, service="data", event_id=event_id, units=units, event_time=ts(at)
    )


def money(answer: pb.Money) -> tuple[str, int, int]:
    return (answer.currency, answer.minor_units, answer.decimals)


async def test_an_event_answer_says_how_it_was_rated(engine: Engine) -> None:
    await engine.provision(account("r1", MSISDN, eur("10.00")))
    now = engine.clock.now
    italy = await engine.stub.ChargeEvent(call_to("39333", "it", now, 90))  # 0.12/min, 60/60
    assert (italy.result, italy.granted_units, italy.rated_units) == (pb.SUCCESS, 90, 120)
    assert (italy.tariff, italy.rate, italy.prefix, list(italy.bands)) == (
        "voice-std", "voice-std:39", "39", [],
    )  # fmt: skip
    assert money(italy.cost) == money(italy.tariff_cost) == ("EUR", 24, 2)
    # Slovenia on a Wednesday at noon: the peak rate, per second, 0.05/min: 45 s = 3.75 cents
    slovenia = await engine.stub.ChargeEvent(call_to("38641000000", "si", now, 45))
    assert (slovenia.rated_units, slovenia.rate, slovenia.prefix, list(slovenia.bands)) == (
        45, "voice-std:386:peak", "386", ["peak"],
    )  # fmt: skip
    assert money(slovenia.cost) == ("EUR", 4, 2)  # rounded up once
    # a replay answers the same, from the stored answer
    again = await engine.stub.ChargeEvent(call_to("38641000000", "si", now, 45))
    assert again == slovenia


async def test_a_session_answer_says_how_each_request_was_rated(engine: Engine) -> None:
    await engine.provision(account("r2", MSISDN, eur("10.00")))
    t = engine.clock.now
    start = await engine.stub.StartSession(voice(MSISDN, "c1", 0, t, requested=120))
    assert (start.rated_units, start.tariff, start.rate, start.prefix) == (
        0, "voice-std", "voice-std:39", "39",
    )  # fmt: skip
    assert money(start.tariff_cost) == ("EUR", 0, 2)
    update = await engine.stub.UpdateSession(voice(MSISDN, "c1", 1, t, requested=60, used=90))
    assert (update.rated_units, money(update.cost), money(update.tariff_cost)) == (
        120, ("EUR", 24, 2), ("EUR", 24, 2),
    )  # fmt: skip
    end = await engine.stub.EndSession(voice(MSISDN, "c1", 2, t, used=40))  # 130 s: 3 minutes
    assert (end.rated_units, end.cost.minor_units, end.tariff_cost.minor_units) == (60, 12, 12)
    assert end.session_cost.minor_units == 36  # the whole session
    assert (end.rate, end.prefix, list(end.bands)) == ("voice-std:39", "39", [])
    records = sorted(await engine.rated_records(), key=lambda r: r["id"])
    assert [(r["ru"], r["cost"], r["rate"]) for r in records] == [
        ("120", "24", "voice-std:39"),
        ("60", "12", "voice-std:39"),
    ]


async def test_an_event_too_large_to_price_exactly_is_refused_and_kept(engine: Engine) -> None:
    # data: 0.01 per MiB for the first GiB, the worst case of a call is all of it at that price
    # (10**12 bytes x 10,000 scaled micro-units reaches 2**53); 10**11 bytes is exact
    await engine.provision(account("r3", MSISDN, eur("1000.00")))
    now = engine.clock.now
    refused = await engine.stub.ChargeEvent(data("big", now, 10**12))
    assert (refused.result, refused.message) == (
        pb.RATING_FAILED, "usage too large to price exactly",
    )  # fmt: skip
    assert await engine.balance(MSISDN) == 100_000
    entries = await engine.redis.xrange("tarif:unrated")
    assert [(e[b"id"], e[b"reason"]) for _, e in entries] == [(b"e:big", b"usage_too_large")]
    charged = await engine.stub.ChargeEvent(data("fits", now, 10**11))
    assert (charged.result, charged.rated_units) == (pb.SUCCESS, 10**11)  # whole KiB already
    scaled = 2**30 * 10_000 + (10**11 - 2**30) * 5_000  # per byte, in 1/2**20 micro-units
    assert charged.cost.minor_units == -(-scaled // (2**20 * 10**4)) == 48_196
    assert await engine.balance(MSISDN) == 100_000 - 48_196
