"""An event's ids are checked at once, and a bad one is named as when each was checked alone."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.validation import Limits, validate_event
from tarif_balances.model import EventStep
from tarif_common.errors import InvalidRequest
from tests.unit.engine.fakes import AT, NOW

LIMITS = Limits(10**6, 3600, 60)
EVENT = EventStep("386401", "voice", "e-1", AT, {"destination": "39"}, 60)
BAD = ["", "a b", "a\x00b", "a\n", "\na", "é", "x" * 129, "a{p1}"]
ID_RULE = "must be 1-128 characters of A-Z a-z 0-9 _ . : @ + -"


def refusal(step: EventStep, index: int | None = None) -> str:
    with pytest.raises(InvalidRequest) as raised:
        validate_event(step, LIMITS, NOW, index)
    return raised.value.message


def test_good_ids_pass() -> None:
    validate_event(EVENT, LIMITS, NOW)
    validate_event(replace(EVENT, subscriber="x" * 128, event_id="a_b.c:d@e+f-9"), LIMITS, NOW)


@pytest.mark.parametrize("field", ["subscriber", "event_id", "service"])
@pytest.mark.parametrize("bad", BAD)
def test_a_bad_id_is_named(field: str, bad: str) -> None:
    reason = "is required" if not bad else ID_RULE
    assert refusal(replace(EVENT, **{field: bad})) == f"{field}: {reason}"
    assert refusal(replace(EVENT, **{field: bad}), 4) == f"events[4].{field}: {reason}"


def test_the_first_bad_id_is_named_and_then_the_other_checks() -> None:
    assert refusal(replace(EVENT, event_id="a b", service="")) == f"event_id: {ID_RULE}"
    assert refusal(replace(EVENT, subscriber="\x00", service="")) == f"subscriber: {ID_RULE}"
    # ids that would match together if a separator could hide in one of them
    assert refusal(replace(EVENT, subscriber="a\x00b", event_id="")) == f"subscriber: {ID_RULE}"
    assert refusal(replace(EVENT, units=0), 2) == "events[2].units: must be at least 1"
    assert refusal(replace(EVENT, attributes={"d": "\x00"}), 1) == (
        "events[1].attributes.'d': must not contain NUL characters"
    )
