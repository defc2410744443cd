"""Sharing groups: members draw on the owner's pool in the same atomic step, within their caps."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis

from tarif.charging.v1 import charging_pb2 as pb
from tarif_balances.provisioning import Provisioner
from tarif_common import keys
from tarif_common.errors import ProvisioningError
from tests.integration.harness import Engine, account, catalog, eur, ts
from tests.integration.requests import session

MB = 1024 * 1024
OWNER = "38659000000"


def data_balance(mb: int, balance_id: str = "data") -> dict[str, Any]:
    return {"id": balance_id, "resource": "data_bytes", "amount": mb * MB}


def group(members: list[str], cap: str | int | None = None, **extra: Any) -> dict[str, Any]:
    policy = {"resources": {"data_bytes": {} if cap is None else {"cap": cap}}}
    policy.update(extra.pop("policy", {}))
    return {
        "id": "family",
        "owner": "owner",
        "policy": policy,
        "members": [{"account": m} for m in members],
        **extra,
    }


def member(n: int) -> dict[str, Any]:
    return account(f"m{n}", f"3865000{n:04d}", eur("0.00"))


def data(
    msisdn: str, sid: str, n: int, at: float, *, requested: int = 0, used: int = 0
) -> pb.SessionRequest:
    return session(
        msisdn, sid, n, at, service="data", attributes={}, requested=requested, used=used
    )


def data_event(msisdn: str, event_id: str, at: float, mb: int) -> pb.EventRequest:
    return pb.EventRequest(
        subscriber=msisdn, service="data", event_id=event_id, units=mb * MB, event_time=ts(at)
    )


async def pool_left(engine: Engine) -> int:
    return await engine.balance(OWNER, "data")


async def test_the_source_example_three_members_share_1000_mb_with_a_400_mb_cap(
    engine: Engine,
) -> None:
    owner = account("owner", OWNER, eur("0.00"), data_balance(1000))
    await engine.provision(
        owner, member(1), member(2), member(3), groups=[group(["m1", "m2", "m3"], 400 * MB)]
    )
    t = engine.clock.now
    granted = []
    for n in (1, 2, 3):
        msisdn = f"3865000{n:04d}"
        start = await engine.stub.StartSession(data(msisdn, f"d{n}", 0, t, requested=400 * MB))
        granted.append((start.granted_units // MB, start.final_unit))
        end = await engine.stub.EndSession(data(msisdn, f"d{n}", 1, t, used=start.granted_units))
        assert end.result == pb.SUCCESS
        assert end.session_cost.minor_units == 0  # all from the pool, no money
    assert granted == [(400, False), (400, False), (200, True)]
    assert await pool_left(engine) == 0
    impacts = [r["imp"] for r in await engine.rated_records()]
    assert all(imp.startswith("owner/data|data_bytes|-") for imp in impacts)


async def test_50_members_charging_at_once_never_overdraw_the_pool(engine: Engine) -> None:
    members = [member(n) for n in range(50)]
    owner = account("owner", OWNER, eur("0.00"), data_balance(1000))
    await engine.provision(owner, *members, groups=[group([f"m{n}" for n in range(50)])])
    answers = await asyncio.gather(
        *(
            engine.stub.ChargeEvent(data_event(f"3865000{n:04d}", f"e{n}", engine.clock.now, 30))
            for n in range(50)
        )
    )
    assert Counter(a.result for a in answers) == {pb.SUCCESS: 33, pb.CREDIT_LIMIT_REACHED: 17}
    assert await pool_left(engine) == 10 * MB
    consumed = engine.app.metrics.pool_consumed.labels("data_bytes")._value.get()
    assert consumed == 990 * MB


async def test_a_held_reservation_counts_toward_the_cap(engine: Engine) -> None:
    owner = account("owner", OWNER, eur("0.00"), data_balance(1000))
    await engine.provision(owner, member(1), groups=[group(["m1"], 100 * MB)])
    msisdn, t = "38650000001", engine.clock.now
    start = await engine.stub.StartSession(data(msisdn, "held", 0, t, requested=100 * MB))
    assert start.granted_units == 100 * MB
    blocked = await engine.stub.ChargeEvent(data_event(msisdn, "more", t, 1))
    assert blocked.result == pb.CREDIT_LIMIT_REACHED
    await engine.stub.EndSession(data(msisdn, "held", 1, t, used=40 * MB))
    after = await engine.stub.ChargeEvent(data_event(msisdn, "after", t, 60))
    assert after.result == pb.SUCCESS
    assert (
        await engine.stub.ChargeEvent(data_event(msisdn, "over", t, 1))
    ).result == pb.CREDIT_LIMIT_REACHED
    assert await pool_left(engine) == 900 * MB


@pytest.mark.parametrize(
    ("order", "own_left", "pool"), [("own_first", 0, 995), ("pool_first", 10, 985)]
)
async def test_own_or_pool_first(engine: Engine, order: str, own_left: int, pool: int) -> None:
    owner = account("owner", OWNER, eur("0.00"), data_balance(1000))
    mine = account("m1", "38650000001", eur("0.00"), data_balance(10, "own"))
    await engine.provision(owner, mine, groups=[group(["m1"], policy={"order": order})])
    answer = await engine.stub.ChargeEvent(data_event("38650000001", "x", engine.clock.now, 15))
    assert answer.result == pb.SUCCESS
    assert await engine.balance("38650000001", "own") == own_left * MB
    assert await pool_left(engine) == pool * MB


@pytest.mark.parametrize(
    "change", [{"members": [{"account": "m1", "status": "suspended"}]}, {"status": "cancelled"}]
)
async def test_suspended_members_and_cancelled_groups_use_their_own_only(
    engine: Engine, change: dict[str, Any]
) -> None:
    owner = account("owner", OWNER, eur("0.00"), data_balance(1000))
    await engine.provision(owner, member(1), groups=[group(["m1"])])
    assert (
        await engine.stub.ChargeEvent(data_event("38650000001", "a", engine.clock.now, 1))
    ).result == pb.SUCCESS
    await engine.provision(groups=[{**group(["m1"]), **change}])
    denied = await engine.stub.ChargeEvent(data_event("38650000001", "b", engine.clock.now, 1))
    assert denied.result == pb.CREDIT_LIMIT_REACHED
    assert await pool_left(engine) == 999 * MB


async def test_joining_moves_the_member_into_the_owner_partition(engine: Engine) -> None:
    partitions = engine.app.partitions
    far = next(
        f"far{i}"
        for i in range(100)
        if keys.partition_of(f"far{i}", partitions) != keys.partition_of("owner", partitions)
    )
    owner = account("owner", OWNER, eur("0.00"), data_balance(1000))
    await engine.provision(owner, account(far, "38650009999", eur("1.00")))
    before = await engine.stub.ChargeEvent(data_event("38650009999", "pre", engine.clock.now, 1))
    assert before.cost.minor_units == 1  # own money: 1 MB at 0.01
    await engine.provision(groups=[group([far])])
    target = keys.partition_of("owner", partitions)
    assert await engine.redis.exists(keys.account(keys.partition_of(far, partitions), far)) == 0
    assert await engine.redis.exists(keys.account(target, far)) == 1
    after = await engine.stub.ChargeEvent(data_event("38650009999", "post", engine.clock.now, 1))
    assert (after.result, after.cost.minor_units) == (pb.SUCCESS, 0)  # the pool, via a stale route
    assert await engine.balance("38650009999") == 99


async def test_bad_groups_change_nothing(redis: Redis) -> None:
    provisioner = Provisioner(redis, 16)
    owner = account("owner", OWNER, eur("0.00"), data_balance(1000))
    await provisioner.apply(
        {
            "catalog": catalog(),
            "accounts": [owner, member(1), member(2)],
            "sharing_groups": [group(["m1"])],
        }
    )
    await provisioner.apply({"accounts": [account("owner2", "38659999999", eur("0.00"))]})
    snapshot = {k: await redis.dump(k) for k in await redis.keys("*")}
    bad = [
        ({**group(["m1"]), "owner": "nobody"}, "unknown account"),
        ({**group(["m2"]), "owner": "owner2"}, "has another owner"),
        (group(["m2", "ghost"]), "unknown account"),
        (group(["m2"], -5), "non-negative"),
        (group(["m2"], "150%"), "0% to 100%"),
        ({**group(["m2"]), "policy": {"resources": {"GOLD": {}}}}, "unknown resource"),
        (group(["owner"]), "owns it"),
    ]
    for doc, message in bad:
        with pytest.raises(ProvisioningError, match=message):
            await provisioner.apply({"sharing_groups": [doc]})
    two = {
        "id": "g2",
        "owner": "owner2",
        "policy": {"resources": {"data_bytes": {}}},
        "members": [{"account": "m1"}],
    }
    with pytest.raises(ProvisioningError, match="already a member of group family"):
        await provisioner.apply({"sharing_groups": [two]})
    assert {k: await redis.dump(k) for k in await redis.keys("*")} == snapshot


async def test_a_member_with_an_open_session_cannot_leave(engine: Engine) -> None:
    owner = account("owner", OWNER, eur("0.00"), data_balance(1000))
    await engine.provision(owner, member(1), groups=[group(["m1"])])
    await engine.stub.StartSession(data("38650000001", "open", 0, engine.clock.now, requested=MB))
    with pytest.raises(ProvisioningError, match="open sessions"):
        await engine.provision(groups=[group([])])


async def test_usage_of_the_cycle_before_last_is_deleted(engine: Engine) -> None:
    """The group hash keeps a member's usage for its latest two cycles only: it does not grow
    with the cycles, and a late event of the cycle before still counts against its cap."""
    owner = account("owner", OWNER, eur("0.00"), data_balance(1000))
    await engine.provision(owner, member(1), groups=[group(["m1"], 400 * MB)])
    p = keys.partition_of("owner", engine.app.partitions)
    group_key = keys.group(p, "family")

    async def usage() -> dict[str, str]:
        fields = await engine.redis.hgetall(group_key)
        return {k.decode(): v.decode() for k, v in fields.items() if k.startswith(b"u:")}

    cycles = []
    for n in range(3):
        if n:
            engine.clock.advance(32 * 86400)  # mid-month to mid-month: the next cycle
        at = engine.clock.now
        answer = await engine.stub.ChargeEvent(data_event("38650000001", f"c{n}", at, 10))
        assert answer.result == pb.SUCCESS
        cycles.append(datetime.fromtimestamp(at, UTC).strftime("%Y%m"))
    first, second, third = cycles
    assert first < second < third
    assert await usage() == {
        f"u:m1:data_bytes:{second}": str(10 * MB),
        f"u:m1:data_bytes:{third}": str(10 * MB),
        "u:m1:data_bytes:cycles": f"{third}|{second}",
    }
    # a late event of the cycle before counts there, against its cap, and deletes nothing
    late = engine.clock.now - 25 * 86400
    assert datetime.fromtimestamp(late, UTC).strftime("%Y%m") == second
    answer = await engine.stub.ChargeEvent(data_event("38650000001", "late", late, 390))
    assert answer.result == pb.SUCCESS
    over = await engine.stub.ChargeEvent(data_event("38650000001", "over", late, 1))
    assert over.result == pb.CREDIT_LIMIT_REACHED
    assert (await usage())[f"u:m1:data_bytes:{second}"] == str(400 * MB)
    assert len(await usage()) == 3
