"""Request fingerprints: equal for a retry, different for any significant field."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from engine.fingerprints import event_fingerprint, refund_fingerprint, session_fingerprint
from tarif_balances.model import Action, EventStep, Money, RefundStep, SessionOp, SessionStep
from tests.unit.engine.fakes import AT

EVENT = EventStep("386401", "voice", "e1", AT, {"destination": "39", "origin": "386"}, 60)
SESSION = SessionStep(
    SessionOp.UPDATE, "386401", "voice", "c1", 1, AT, {"destination": "39"}, 60, 30
)
REFUND = RefundStep("386401", "r1", "e1", AT, Money("EUR", 25, 2))


def test_a_retry_has_the_same_fingerprint_whatever_the_attribute_order() -> None:
    reordered = replace(EVENT, attributes={"origin": "386", "destination": "39"})
    assert event_fingerprint(reordered) == event_fingerprint(EVENT)
    assert len(event_fingerprint(EVENT)) == 16  # blake2b-64, hex
    assert event_fingerprint(replace(EVENT, event_id="e2")) == event_fingerprint(EVENT)  # the key


@pytest.mark.parametrize(
    "changes",
    [
        {"subscriber": "386402"},
        {"service": "sms"},
        {"units": 61},
        {"action": Action.PRICE_ENQUIRY},
        {"event_time": AT + timedelta(milliseconds=1)},
        {"attributes": {"destination": "39", "origin": "387"}},
        {"attributes": {"destination": "39"}},
        {"attributes": {"destination": "39", "origin": "386", "x": ""}},
    ],
)
def test_a_different_event_has_a_different_fingerprint(changes: dict[str, object]) -> None:
    assert event_fingerprint(replace(EVENT, **changes)) != event_fingerprint(EVENT)  # type: ignore[arg-type]


def test_an_event_time_the_engine_filled_in_is_left_out() -> None:
    untimed = replace(EVENT, time_given=False)
    later = replace(untimed, event_time=AT + timedelta(seconds=30))
    assert event_fingerprint(later) == event_fingerprint(untimed) != event_fingerprint(EVENT)
    s_untimed = replace(SESSION, time_given=False)
    s_later = replace(s_untimed, event_time=AT + timedelta(seconds=30))
    assert session_fingerprint(s_later) == session_fingerprint(s_untimed)


@pytest.mark.parametrize(
    "changes",
    [
        {"op": SessionOp.END},
        {"subscriber": "386402"},
        {"service": "data"},
        {"requested_units": 0},
        {"used_units": 31},
        {"event_time": AT + timedelta(seconds=1)},
        {"attributes": {}},
    ],
)
def test_a_different_session_report_has_a_different_fingerprint(changes: dict[str, object]) -> None:
    assert session_fingerprint(replace(SESSION, **changes)) != session_fingerprint(SESSION)  # type: ignore[arg-type]
    assert session_fingerprint(replace(SESSION, session_id="c2", request_number=2)) == (
        session_fingerprint(SESSION)
    )


def test_a_refund_is_fingerprinted_by_what_it_gives_back() -> None:
    same = replace(REFUND, refund_id="r2", event_time=AT + timedelta(hours=1))
    assert refund_fingerprint(same) == refund_fingerprint(REFUND)
    assert refund_fingerprint(replace(REFUND, amount=Money("EUR", 25, 3))) == refund_fingerprint(
        REFUND
    )  # the engine moves minor units; the decimals do not change what moves
    others = [
        replace(REFUND, amount=Money("EUR", 26, 2)),
        replace(REFUND, amount=Money("USD", 25, 2)),
        replace(REFUND, amount=None),
        replace(REFUND, original_event_id="e2"),
        replace(REFUND, subscriber="386402"),
    ]
    assert len({refund_fingerprint(r) for r in [REFUND, *others]}) == 1 + len(others)
    assert event_fingerprint(EVENT) != session_fingerprint(SESSION)  # kinds never collide
