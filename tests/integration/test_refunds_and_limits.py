"""Refunds (whole, partial, never more than charged) and postpaid credit limits."""

from __future__ import annotations

import grpc
import pytest

from tarif.charging.v1 import charging_pb2 as pb
from tests.integration.harness import Engine, account, eur, ts
from tests.integration.requests import sms, voice, voice_call

MSISDN = "38640000051"


def refund(
    refund_id: str, original: str, now: float, cents: int | None = None, currency: str = "EUR"
) -> pb.RefundRequest:
    request = pb.RefundRequest(
        subscriber=MSISDN, refund_id=refund_id, original_event_id=original, event_time=ts(now)
    )
    if cents is not None:
        request.amount.currency = currency
        request.amount.minor_units = cents
        request.amount.decimals = 2
    return request


async def test_partial_refunds_never_exceed_the_charge(engine: Engine) -> None:
    await engine.provision(account("f1", MSISDN, eur("10.00")))
    charged = await engine.stub.ChargeEvent(voice_call(MSISDN, "call", engine.clock.now, 600))
    assert charged.cost.minor_units == 120
    now = engine.clock.now
    first = await engine.stub.Refund(refund("p1", "call", now, 50))
    assert (first.result, first.refunded.minor_units) == (pb.SUCCESS, 50)
    too_much = await engine.stub.Refund(refund("p2", "call", now, 71))
    assert too_much.result == pb.CREDIT_CONTROL_NOT_APPLICABLE
    wrong_currency = await engine.stub.Refund(refund("p3", "call", now, 10, "USD"))
    assert wrong_currency.result == pb.CREDIT_CONTROL_NOT_APPLICABLE
    rest = await engine.stub.Refund(refund("p4", "call", now))
    assert rest.refunded.minor_units == 70
    again = await engine.stub.Refund(refund("p5", "call", now))
    assert again.result == pb.EVENT_UNKNOWN
    assert await engine.balance(MSISDN) == 1000
    refunds = [r for r in await engine.rated_records() if r["k"] == "refund"]
    assert sorted(int(r["cost"]) for r in refunds) == [-70, -50]
    assert all(r["ref"] == "call" for r in refunds)


def refund_of(refund_id: str, original: str, now: float, money: pb.Money) -> pb.RefundRequest:
    return pb.RefundRequest(
        subscriber=MSISDN,
        refund_id=refund_id,
        original_event_id=original,
        event_time=ts(now),
        amount=money,
    )


async def test_a_refund_amount_is_read_with_its_decimals(engine: Engine) -> None:
    """1 with decimals 0 is 1 EUR (100 cents), 1230 with decimals 3 is 1.23 EUR; the answer
    keeps EUR's decimals."""
    await engine.provision(account("f6", MSISDN, eur("10.00")))
    charged = await engine.stub.ChargeEvent(voice_call(MSISDN, "long", engine.clock.now, 1200))
    assert charged.cost.minor_units == 240
    now = engine.clock.now
    whole = await engine.stub.Refund(
        refund_of("d0", "long", now, pb.Money(currency="EUR", minor_units=1, decimals=0))
    )
    assert (whole.result, whole.refunded.minor_units, whole.refunded.decimals) == (
        pb.SUCCESS,
        100,
        2,
    ), whole.message
    milli = await engine.stub.Refund(
        refund_of("d3", "long", now, pb.Money(currency="EUR", minor_units=1230, decimals=3))
    )
    assert (milli.result, milli.refunded.minor_units, milli.refunded.decimals) == (
        pb.SUCCESS,
        123,
        2,
    ), milli.message
    assert await engine.balance(MSISDN) == 1000 - 240 + 100 + 123
    refunds = [r for r in await engine.rated_records() if r["k"] == "refund"]
    assert sorted(int(r["cost"]) for r in refunds) == [-123, -100]


@pytest.mark.parametrize(
    ("money", "field"),
    [
        (pb.Money(currency="EUR", minor_units=1234, decimals=3), "amount.minor_units"),
        (pb.Money(currency="EUR", minor_units=1, decimals=7), "amount.decimals"),
    ],
)
async def test_a_refund_amount_finer_than_the_currency_is_refused(
    engine: Engine, money: pb.Money, field: str
) -> None:
    await engine.provision(account("f7", MSISDN, eur("10.00")))
    await engine.stub.ChargeEvent(voice_call(MSISDN, "long", engine.clock.now, 1200))
    before = await engine.rated_records()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await engine.stub.Refund(refund_of("fine", "long", engine.clock.now, money))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(field)
    assert "amount.decimals" in caught.value.details()
    assert await engine.balance(MSISDN) == 1000 - 240  # nothing moved
    assert await engine.rated_records() == before
    # nothing kept under the refund id either: the same id, corrected, refunds
    fixed = pb.Money(currency="EUR", minor_units=1230, decimals=3)
    answer = await engine.stub.Refund(refund_of("fine", "long", engine.clock.now, fixed))
    assert (answer.result, answer.refunded.minor_units) == (pb.SUCCESS, 123)


async def test_a_refund_in_another_currency_is_still_not_applicable(engine: Engine) -> None:
    """A currency the catalog has no money resource for cannot be scaled: the engine leaves it
    as it is and the refund is refused for its currency, whatever its decimals."""
    await engine.provision(account("f8", MSISDN, eur("10.00")))
    await engine.stub.ChargeEvent(voice_call(MSISDN, "long", engine.clock.now, 1200))
    usd = pb.Money(currency="USD", minor_units=1234, decimals=3)
    answer = await engine.stub.Refund(refund_of("usd", "long", engine.clock.now, usd))
    assert answer.result == pb.CREDIT_CONTROL_NOT_APPLICABLE
    assert answer.message == "refund in USD of an event charged in EUR"
    assert await engine.balance(MSISDN) == 1000 - 240


async def test_full_refund_returns_free_units_too(engine: Engine) -> None:
    bundle = {"id": "sms-pack", "resource": "sms_count", "amount": 1}
    await engine.provision(account("f2", MSISDN, eur("1.00"), bundle))
    await engine.stub.ChargeEvent(sms(MSISDN, "free", engine.clock.now))
    assert await engine.balance(MSISDN, "sms-pack") == 0
    back = await engine.stub.Refund(refund("r", "free", engine.clock.now))
    assert back.result == pb.SUCCESS
    assert [(i.balance_id, i.amount) for i in back.impacts] == [("sms-pack", 1)]
    assert await engine.balance(MSISDN, "sms-pack") == 1


async def test_refund_of_an_unknown_or_failed_event(engine: Engine) -> None:
    await engine.provision(account("f3", MSISDN, eur("0.00")))
    unknown = await engine.stub.Refund(refund("u", "nothing", engine.clock.now))
    assert (unknown.result, unknown.diameter_result_code) == (pb.EVENT_UNKNOWN, 5012)
    denied = await engine.stub.ChargeEvent(sms(MSISDN, "denied", engine.clock.now))
    assert denied.result == pb.CREDIT_LIMIT_REACHED
    failed = await engine.stub.Refund(refund("f", "denied", engine.clock.now))
    assert failed.result == pb.EVENT_UNKNOWN
    assert await engine.balance(MSISDN) == 0


async def test_postpaid_stops_at_the_credit_limit(engine: Engine) -> None:
    await engine.provision(
        account("f4", MSISDN, eur("0", credit_limit="1.00"), payment_type="postpaid")
    )
    t = engine.clock.now
    start = await engine.stub.StartSession(voice(MSISDN, "pp", 0, t, requested=600))
    assert (start.granted_units, start.final_unit) == (480, True)  # 8 minutes = 0.96 EUR
    engine.clock.advance(240)
    mid = await engine.stub.UpdateSession(
        voice(MSISDN, "pp", 1, engine.clock.now, used=240, requested=240)
    )
    assert (mid.granted_units, mid.final_unit) == (240, False)
    engine.clock.advance(240)
    end = await engine.stub.EndSession(voice(MSISDN, "pp", 2, engine.clock.now, used=240))
    assert end.session_cost.minor_units == 96
    assert await engine.balance(MSISDN) == -96  # owed
    over = await engine.stub.ChargeEvent(sms(MSISDN, "one-more", engine.clock.now))
    assert over.result == pb.CREDIT_LIMIT_REACHED
    last = await engine.stub.ChargeEvent(
        sms(MSISDN, "cheap", engine.clock.now, action=pb.CHECK_BALANCE)
    )
    assert last.result == pb.CREDIT_LIMIT_REACHED  # 0.04 left, an SMS costs 0.05
    report = await engine.stub.GetBalances(pb.BalanceQuery(subscriber=MSISDN))
    assert (report.balances[0].amount, report.balances[0].available) == (-96, 4)


async def test_check_balance_and_price_enquiry_move_nothing(engine: Engine) -> None:
    await engine.provision(account("f5", MSISDN, eur("1.00")))
    for action in (pb.CHECK_BALANCE, pb.PRICE_ENQUIRY):
        answer = await engine.stub.ChargeEvent(
            sms(MSISDN, f"q-{action}", engine.clock.now, action=action)
        )
        assert (answer.result, answer.cost.minor_units, answer.granted_units) == (pb.SUCCESS, 5, 1)
    assert await engine.balance(MSISDN) == 100
    assert await engine.rated_records() == []
