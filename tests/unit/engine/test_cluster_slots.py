"""Every key one script call touches hashes to one Redis Cluster slot (the partition's tag)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.crc import key_slot

from tarif_balances.model import Route, SessionOp, SessionStep
from tarif_balances.store import EventCall, RedisBalanceStore, StoreLimits


class Recorder:
    def __init__(self) -> None:
        self.keys: list[list[str]] = []

    async def __call__(self, keys: list[str], args: list[Any], client: Any = None) -> Any:
        self.keys.append(keys)
        if len(args) > 3 and args[2] and isinstance(args[2], int) and client is not None:
            return [b"\x80"] * args[2]
        return [b"\x80"] * 64 if client is not None else b"\x80"


def _store() -> tuple[RedisBalanceStore, Recorder]:
    store = RedisBalanceStore(Redis(), StoreLimits(60, 300, 30))  # never connects
    recorder = Recorder()
    store._session = store._event = store._refund = recorder  # type: ignore[assignment]

    async def member(partition: int, account: str) -> Route:  # no Redis in unit tests
        return Route(partition, account, "", "family", "owner-1")

    store._member_route = member  # type: ignore[method-assign]
    return store, recorder


def _one_slot(keys: list[str]) -> bool:
    return len({key_slot(k.encode()) for k in keys}) == 1


async def test_session_and_refund_keys_share_a_slot() -> None:
    store, recorder = _store()
    step = SessionStep(SessionOp.START, "sub", "voice", "s-1", 0, datetime.now(UTC), {}, 60, 0)
    for partition in (0, 7, 15):
        for route in (Route(partition, "a42", "basic"), Route(partition, "m", "basic", "fam", "o")):
            await store.session(route, step, 0, b"", "{}")
            await store.refund(route, "sub", "r-1", "e-1", None, 0, 0)
        await store.expire_session(partition, "a42", "s-1", 0)
    assert len(recorder.keys) == 15
    assert any(":g:fam" in key for keys in recorder.keys for key in keys)
    assert all(_one_slot(keys) for keys in recorder.keys)


async def test_an_event_chunk_of_one_partition_is_in_one_slot() -> None:
    store, recorder = _store()
    calls = [
        EventCall(Route(5, f"acct-{i}", "basic"), f"e{i}", 0, 1, 0, "s", b"", "{}")
        for i in range(20)
    ]
    calls[3] = EventCall(Route(5, "m", "basic", "family", "o"), "e3", 0, 1, 0, "s", b"", "{}")
    await store._event_chunk(None, calls, list(range(20)), 0)
    (keys,) = recorder.keys
    assert len(keys) == 4 + 2 * 20 + 2  # a member also brings its group and owner
    assert _one_slot(keys)
