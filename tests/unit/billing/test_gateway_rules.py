"""The retry schedule of card payments and what a gateway's HTTP answer means (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from pydantic import ValidationError

from tarif_billing.gateway.http import answer
from tarif_billing.gateway.policy import NextTry, next_try
from tarif_billing.gateway.protocol import Approved, Declined, GatewayError
from tarif_common.settings import Settings

NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
DAYS = (1, 3, 7)


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        (1, NextTry(NOW + timedelta(days=1), gave_up=False)),
        (2, NextTry(NOW + timedelta(days=3), gave_up=False)),
        (3, NextTry(NOW + timedelta(days=7), gave_up=False)),
        (4, NextTry(None, gave_up=True)),
        (9, NextTry(None, gave_up=True)),
    ],
)
def test_the_schedule_waits_longer_then_gives_up(failures: int, expected: NextTry) -> None:
    assert next_try(failures, NOW, DAYS, code="insufficient_funds") == expected


def test_a_hard_decline_waits_for_a_new_card() -> None:
    assert next_try(1, NOW, DAYS, code="expired_card") == NextTry(None, gave_up=False)


def response(status: int, body: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, content=body.encode(), headers=headers)


def test_answers_become_outcomes() -> None:
    ok = '{"id": "ch_1", "status": "approved", "amount": "12.20", "currency": "EUR"}'
    assert answer(response(200, ok), Decimal("12.20"), "EUR") == Approved(
        "ch_1", Decimal("12.20"), "EUR"
    )
    replayed = answer(response(200, ok, **{"idempotent-replayed": "true"}), Decimal("12.2"), "EUR")
    assert isinstance(replayed, Approved)
    assert replayed.replayed
    other = answer(response(200, ok), Decimal("12.21"), "EUR")  # not what was asked: not trusted
    assert isinstance(other, GatewayError)
    assert (other.code, other.transient) == ("bad_answer", False)
    declined = '{"status": "declined", "code": "do_not_honor", "message": "no"}'
    assert answer(response(402, declined), Decimal(1), "EUR") == Declined("do_not_honor", "no")
    busy = answer(response(503, "", **{"retry-after": "2"}), Decimal(1), "EUR")
    assert busy == GatewayError("http_503", "Service Unavailable", retry_after=2.0)
    slow_down = answer(response(429, "not json"), Decimal(1), "EUR")
    assert isinstance(slow_down, GatewayError)
    assert slow_down.transient
    refused = answer(response(401, '{"code": "unauthorized"}'), Decimal(1), "EUR")
    assert refused == GatewayError("unauthorized", "Unauthorized", transient=False)
    garbled = answer(response(200, '{"status": "approved"}'), Decimal(1), "EUR")
    assert isinstance(garbled, GatewayError)
    assert garbled.code == "bad_answer"


def test_a_claim_must_outlast_a_charge_s_sends() -> None:
    with pytest.raises(ValidationError, match="TARIF_PAYMENT_CLAIM_SECONDS"):
        Settings(payment_gateway_timeout=60, payment_claim_seconds=100)
    with pytest.raises(ValidationError, match="at least one day"):
        Settings(payment_retry_days=(1, 0))
    assert Settings().payment_retry_days == (1, 3, 7)
