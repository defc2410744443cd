"""Answers built in place are the messages the fields describe, in the order of the events."""

from __future__ import annotations

from engine import convert
from tarif.charging.v1 import charging_pb2 as pb
from tarif_balances.model import EventOutcome, Impact, Money
from tarif_common.results import Result, diameter_code

CHARGED = EventOutcome(
    Result.SUCCESS,
    "e1",
    1,
    cost=Money("EUR", 5, 2),
    impacts=(Impact("sms", "sms_count", -1), Impact("main", "EUR", -5)),
    rated_units=1,
    tariff="sms-std",
    rate="eu",
    prefix="386",
)
REFUSED = EventOutcome(Result.CREDIT_LIMIT_REACHED, "e2", message="no credit")


def by_keywords(out: EventOutcome) -> pb.EventAnswer:
    """The answer as a keyword constructor makes it, every field given (empty ones too)."""
    answer = pb.EventAnswer(
        result=int(out.result),
        diameter_result_code=diameter_code(out.result),
        event_id=out.event_id,
        granted_units=out.granted_units,
        message=out.message,
        rated_units=out.rated_units,
        tariff=out.tariff,
        rate=out.rate,
        prefix=out.prefix,
        bands=out.bands,
        impacts=[
            pb.BalanceImpact(balance_id=i.balance_id, resource=i.resource, amount=i.amount)
            for i in out.impacts
        ],
    )
    for target, money in ((answer.cost, out.cost), (answer.tariff_cost, out.tariff_cost)):
        if money is not None:
            target.CopyFrom(pb.Money(currency=money.currency, minor_units=money.minor_units,
                                     decimals=money.decimals))  # fmt: skip
    return answer


def test_an_event_answer_carries_every_field_and_impact_in_order() -> None:
    answer = convert.event_answer(CHARGED)
    assert answer == by_keywords(CHARGED)
    assert (answer.cost.currency, answer.cost.minor_units, answer.cost.decimals) == ("EUR", 5, 2)
    assert [(i.balance_id, i.amount) for i in answer.impacts] == [("sms", -1), ("main", -5)]
    assert not answer.HasField("tariff_cost")


def test_a_batch_answer_is_one_answer_per_event_in_order() -> None:
    batch = convert.batch_answer([CHARGED, REFUSED, CHARGED])
    assert list(batch.answers) == [by_keywords(CHARGED), by_keywords(REFUSED), by_keywords(CHARGED)]
    assert convert.batch_answer([]) == pb.EventBatchAnswer()


def test_an_answer_made_field_by_field_is_the_keyword_one_byte_for_byte() -> None:
    rated = EventOutcome(
        Result.SUCCESS, "e3", 90, Money("EUR", 0, 2), (Impact("voice", "voice_seconds", -60),),
        "capped", 120, "voice-std", "voice-std:386:peak", "386", ("peak", "offpeak"),
        Money("EUR", 2501, 4),
    )  # fmt: skip
    free = EventOutcome(Result.SUCCESS, "e4", 1, Money("", 0, 0), tariff_cost=Money("", 0, 0))
    for out in (CHARGED, REFUSED, rated, free, EventOutcome(Result.USER_UNKNOWN, "")):
        made = convert.event_answer(out)
        assert made.SerializeToString() == by_keywords(out).SerializeToString()
        assert made.HasField("cost") is (out.cost is not None)
        assert made.HasField("tariff_cost") is (out.tariff_cost is not None)
    batch = convert.batch_answer([rated, free])
    assert list(batch.answers) == [by_keywords(rated), by_keywords(free)]
