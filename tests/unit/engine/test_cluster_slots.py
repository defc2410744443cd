"""Every key one script call touches hashes to one Redis Cluster slot (the partition's tag)."""

from __future__ import annotations

from redis.crc import key_slot

from tarif_balances.model import EventStep, RefundStep, Route, SessionOp, SessionStep
from tarif_balances.ports import EventCall, RefundCall, SessionCall
from tarif_balances.scripts import (
    event_script_call,
    expire_script_call,
    refund_script_call,
    session_script_call,
)
from tests.unit.engine.fakes import AT, QUOTE


def _one_slot(keys: list[str]) -> bool:
    return len({key_slot(k.encode()) for k in keys}) == 1


def test_session_and_refund_keys_share_a_slot() -> None:
    step = SessionStep(SessionOp.START, "sub", "voice", "s-1", 0, AT, {}, 60, 0)
    refund = RefundStep("sub", "r-1", "e-1", AT)
    calls = []
    for partition in (0, 7, 15):
        for route in (Route(partition, "a42", "basic"), Route(partition, "m", "basic", "fam", "o")):
            calls.append(session_script_call(SessionCall(route, step, QUOTE), 0, 60, 300, 30))
            calls.append(refund_script_call(RefundCall(route, refund), 0, 60))
        member = Route(partition, "a42", "", "family", "owner-1")  # as the sweeper reads it
        calls.append(expire_script_call(member, "s-1", 0))
    assert len(calls) == 15
    assert any(":g:fam" in key for keys, _ in calls for key in keys)
    assert all(_one_slot(keys) for keys, _ in calls)


def test_an_event_chunk_of_one_partition_is_in_one_slot() -> None:
    def call(i: int, route: Route) -> EventCall:
        return EventCall(route, EventStep("s", "voice", f"e{i}", AT, {}, 1), QUOTE)

    calls = [call(i, Route(5, f"acct-{i}", "basic")) for i in range(20)]
    calls[3] = call(3, Route(5, "m", "basic", "family", "o"))
    keys, _ = event_script_call(calls, 0, 60, 60)
    assert len(keys) == 4 + 2 * 20 + 2  # a member also brings its group and owner
    assert _one_slot(keys)
