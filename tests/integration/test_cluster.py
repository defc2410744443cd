"""The engine, the batch ingestion and the admin API's outbox on a local 3-master Redis Cluster.

One cluster per test (about 2 s to form). Accounts land in every partition, the partitions'
slots on all three masters; charges, sessions and a sharing group's pool are ingested into
Postgres with nothing lost or doubled. A member's move into its owner's partition spans two
slots there: a crash after either step leaves a state the next provisioning finishes.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tarif.charging.v1 import charging_pb2 as pb
from tarif_balances.provisioning import Provisioner
from tarif_balances.sharing import Groups
from tarif_common import keys
from tarif_common.embedded_cluster import EmbeddedCluster
from tarif_common.errors import ProvisioningError
from tarif_common.redis_client import RedisClient, connect
from tests.integration.admin_harness import onboarding, running_admin
from tests.integration.harness import Engine, account, catalog, eur, running_engine, ts
from tests.integration.notifier_harness import eventually, running_batch
from tests.integration.requests import sms, voice

pytestmark = pytest.mark.slow

MB = 1024 * 1024
PARTITIONS = 16


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[EmbeddedCluster]:
    with EmbeddedCluster(tmp_path / "cluster") as running:
        yield running


@pytest.fixture
async def engine(cluster: EmbeddedCluster) -> AsyncIterator[Engine]:
    client = connect(cluster.url)
    try:
        async with running_engine(cluster.url, client) as running:  # type: ignore[arg-type]
            yield running
    finally:
        await client.aclose()


def ids_in_every_partition(per_partition: int) -> list[str]:
    """Account ids, `per_partition` of them placed in each partition."""
    found: dict[int, list[str]] = defaultdict(list)
    n = 0
    while min((len(found[p]) for p in range(PARTITIONS)), default=0) < per_partition:
        n += 1
        account_id = f"c{n}"
        placed = found[keys.partition_of(account_id, PARTITIONS)]
        if len(placed) < per_partition:
            placed.append(account_id)
    return [a for p in range(PARTITIONS) for a in found[p]]


def msisdn(account_id: str) -> str:
    return f"3864{int(account_id[1:]):07d}"


def data_event(subscriber: str, event_id: str, at: float, mb: int) -> pb.EventRequest:
    return pb.EventRequest(
        subscriber=subscriber, service="data", event_id=event_id, units=mb * MB, event_time=ts(at)
    )


async def ingested(pg: asyncpg.Pool) -> list[dict[str, Any]]:
    async with pg.acquire() as conn:
        return [dict(r) for r in await conn.fetch("SELECT * FROM rated_events")]


def member_outside(owner_partition: int, count: int) -> list[str]:
    """Member account ids placed in partitions other than the owner's."""
    found, n = [], 0
    while len(found) < count:
        n += 1
        if keys.partition_of(f"m{n}", PARTITIONS) != owner_partition:
            found.append(f"m{n}")
    return found


def group_doc(owner: str, members: list[str]) -> dict[str, Any]:
    return {
        "id": "family",
        "owner": owner,
        "policy": {"order": "own_first", "resources": {"data_bytes": {}}},
        "members": [{"account": m} for m in members],
    }


async def test_charging_and_ingestion_on_a_three_master_cluster(
    cluster: EmbeddedCluster, engine: Engine, pg: asyncpg.Pool, database_url: str
) -> None:
    redis: Any = engine.redis
    assert engine.app.partitions == PARTITIONS
    # the partitions' hash tags spread over all three masters
    masters = {
        redis.get_node_from_key(keys.account(p, "x")).port for p in range(PARTITIONS)
    }  # fmt: skip
    assert masters == set(cluster.ports)

    accounts = ids_in_every_partition(2)
    watched = accounts[0]  # a low balance with a credit profile: its threshold fires
    docs = [account(a, msisdn(a), eur("10.00")) for a in accounts[1:]]
    docs.append(account(watched, msisdn(watched), eur("0.30"), credit_profile="standard"))
    owner_p = keys.partition_of("owner", PARTITIONS)
    members = member_outside(owner_p, 2)
    owner = account("owner", "38690000001", {"id": "data", "resource": "data_bytes",
                                             "amount": 100 * MB})  # fmt: skip
    docs += [owner, *(account(m, f"3869100000{i}", eur("1.00")) for i, m in enumerate(members))]
    await engine.provision(*docs, groups=[group_doc("owner", members)])
    for p in {keys.partition_of(a, PARTITIONS) for a in accounts}:
        assert await redis.exists(keys.account(p, next(
            a for a in accounts if keys.partition_of(a, PARTITIONS) == p)))  # fmt: skip
    assert len({keys.partition_of(a, PARTITIONS) for a in accounts}) == PARTITIONS
    for m in members:  # moved into the owner's partition, nothing left behind
        source = keys.partition_of(m, PARTITIONS)
        assert int(await redis.get(keys.locator(m))) == owner_p
        assert not await redis.exists(keys.account(source, m), keys.moving(source, m))
        assert await redis.hget(keys.account(owner_p, m), "g") == b"family"

    now = engine.clock.now
    # own balances: one event per account at once (the coalescer batches them over partitions)
    answers = await asyncio.gather(
        *(engine.stub.ChargeEvent(sms(msisdn(a), f"e-{a}", now)) for a in accounts)
    )
    assert Counter(a.result for a in answers) == {pb.SUCCESS: len(accounts)}
    replay = await engine.stub.ChargeEvent(sms(msisdn(accounts[3]), f"e-{accounts[3]}", now))
    assert replay.result == pb.SUCCESS  # answered from its stored answer, charged once
    for i in range(1, 5):  # the watched account crosses 80 % used
        await engine.stub.ChargeEvent(sms(msisdn(watched), f"w{i}", now))
    # sessions in several partitions
    for a in accounts[1:7]:
        start = await engine.stub.StartSession(voice(msisdn(a), f"call-{a}", 1, now, requested=60))
        assert start.result == pb.SUCCESS, a
    engine.clock.advance(30)
    for a in accounts[1:7]:
        end = await engine.stub.EndSession(
            voice(msisdn(a), f"call-{a}", 2, engine.clock.now, used=30)
        )
        assert end.result == pb.SUCCESS, a
    # members draw on the owner's pool (they have no data balance of their own)
    for i, m in enumerate(members):
        answer = await engine.stub.ChargeEvent(data_event(f"3869100000{i}", f"d-{m}", now, 10))
        assert answer.result == pb.SUCCESS, answer
    assert await engine.balance("38690000001", "data") == 80 * MB

    expected = len(await engine.rated_records())
    assert expected == len(accounts) + 4 + 6 + 2  # events, watched, session ends, pool
    # the metric counts stream entries: one holds a chunk's records (concurrent unary calls of
    # one partition coalesced into one script call make one entry of several records)
    entries = len(await engine.rated_entries())
    async with running_batch(cluster.url, database_url) as batch:
        await eventually(lambda: batch.metrics.ingested.labels("rated")._value.get() == entries)
        await eventually(lambda: batch.metrics.ingested.labels("notifications")._value.get() >= 1)
    stored = await ingested(pg)
    assert len(stored) == expected
    assert len({(r["account_id"], r["request_id"]) for r in stored}) == expected  # none twice
    for p in range(PARTITIONS):  # acknowledged and gone from every partition's stream
        assert await redis.xlen(keys.rated_stream(p)) == 0
    moved: dict[tuple[str, str], int] = defaultdict(int)
    for r in stored:
        for part in str(r["impacts"]).split(","):
            if part:
                balance, _, amount = part.split("|")
                moved[(str(r["account_id"]), balance)] += int(amount)
    for a in accounts:  # every movement explains a balance, in every partition
        initial = 30 if a == watched else 1000
        assert initial + moved[(a, "main")] == await engine.balance(msisdn(a)), a
    pooled = sum(moved[(m, "owner/data")] for m in members)  # the members' records
    assert pooled == -20 * MB
    assert 100 * MB + pooled == await engine.balance("38690000001", "data")
    async with pg.acquire() as conn:
        fired = await conn.fetchval(
            "SELECT count(*) FROM notifications WHERE account_id = $1", watched
        )
    assert fired == 1


async def test_the_admin_outbox_reaches_the_cluster(
    cluster: EmbeddedCluster, engine: Engine, pg: asyncpg.Pool
) -> None:
    async with running_admin(engine, pg) as admin:
        number = "38640555901"
        created = await admin.call("POST", "/v1/customers", json=onboarding(number))
        assert created.status_code == 201, created.text
        customer = created.json()
        answer = await engine.stub.ChargeEvent(sms(number, "first", engine.clock.now))
        assert answer.result == pb.SUCCESS
        path = f"/v1/customers/{customer['id']}/balances"
        promo = {"id": "promo", "resource": "EUR", "amount": "2.50"}
        assert (await admin.call("POST", path, json=promo)).status_code == 201
        body = {"request_id": "adj-1", "amount": "+5.00", "reason": "goodwill"}
        adjusted = await admin.call("POST", f"{path}/main/adjustments", json=body)
        assert adjusted.status_code == 200, adjusted.text
        assert adjusted.json()["balance_after"] == "14.95"
        assert await engine.balance(number) == 1495
        assert await engine.balance(number, "promo") == 250


async def _members_and_owner(engine: Engine) -> tuple[int, list[str]]:
    owner_p = keys.partition_of("owner", PARTITIONS)
    members = member_outside(owner_p, 1)
    owner = account("owner", "38690000001", {"id": "data", "resource": "data_bytes",
                                             "amount": 100 * MB})  # fmt: skip
    await engine.provision(owner, account(members[0], "38691000000", eur("1.00")))
    return owner_p, members


class Crash(Exception):
    pass


@pytest.mark.parametrize("where", ["after the copy", "after the old home went"])
async def test_an_interrupted_move_is_finished_by_provisioning_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    redis: RedisClient = engine.redis
    owner_p, (member,) = await _members_and_owner(engine)
    source = keys.partition_of(member, PARTITIONS)
    await engine.stub.ChargeEvent(sms("38691000000", "before", engine.clock.now))  # 1.00 -> 0.95
    leave = Groups._leave

    async def crashing(self: Groups, *args: Any) -> bool:
        if where == "after the copy":
            raise Crash
        assert await leave(self, *args)
        raise Crash

    monkeypatch.setattr(Groups, "_leave", crashing)
    with pytest.raises(Crash):
        await engine.provision(groups=[group_doc("owner", [member])])
    monkeypatch.setattr(Groups, "_leave", leave)

    at = engine.clock.now
    if where == "after the copy":  # the old home still serves; the copy is unreachable
        assert (await engine.stub.ChargeEvent(sms("38691000000", "mid", at))).result == pb.SUCCESS
        assert await redis.exists(keys.account(source, member))
    else:  # gone from the old home: refused (never charged twice), a re-write refused too
        mid = await engine.stub.ChargeEvent(sms("38691000000", "mid", at))
        assert mid.result == pb.USER_UNKNOWN
        assert int(await redis.get(keys.moving(source, member))) == owner_p
        with pytest.raises(ProvisioningError, match="being moved"):
            await Provisioner(redis, PARTITIONS).apply(
                {"accounts": [account(member, "38691000000", eur("1.00"))]}
            )
        assert not await redis.exists(keys.account(source, member))

    await engine.provision(groups=[group_doc("owner", [member])])
    assert int(await redis.get(keys.locator(member))) == owner_p
    assert not await redis.exists(keys.account(source, member), keys.moving(source, member))
    route = keys.text(await redis.get(keys.route("38691000000")))
    assert route.startswith(f"{owner_p}|{member}|")
    assert route.endswith("|family|owner")
    spent = 10 if where == "after the copy" else 5  # "mid" was charged only when it could be
    assert await engine.balance("38691000000") == 100 - spent
    answer = await engine.stub.ChargeEvent(data_event("38691000000", "pool", at, 10))
    assert answer.result == pb.SUCCESS
    assert await engine.balance("38690000001", "data") == 90 * MB


async def test_a_member_charged_while_it_moves_is_copied_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis: RedisClient = engine.redis
    owner_p, (member,) = await _members_and_owner(engine)
    leave = Groups._leave
    calls = []

    async def charged_first(self: Groups, *args: Any) -> bool:
        calls.append(args)
        if len(calls) == 1:  # a charge lands in the old home between the copy and the delete
            now = engine.clock.now
            charge = await engine.stub.ChargeEvent(sms("38691000000", "meanwhile", now))
            assert charge.result == pb.SUCCESS
        return await leave(self, *args)

    monkeypatch.setattr(Groups, "_leave", charged_first)
    await engine.provision(groups=[group_doc("owner", [member])])
    assert len(calls) == 2  # the first delete saw the change and the account was copied again
    assert int(await redis.get(keys.locator(member))) == owner_p
    assert await engine.balance("38691000000") == 95  # the charge made meanwhile is kept


@pytest.mark.parametrize("steps_done", [1, 2, 3])
async def test_an_account_write_interrupted_between_its_steps_is_finished_by_a_rerun(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, steps_done: int
) -> None:
    """Service A is replaced by B; a crash after 1 (A's route gone), 2 (the account) or 3
    (B's route) of the 4 steps leaves the account's state in force: A works while the account
    still has it (an engine that cached its route), B once its route is there."""
    from tarif_balances import provisioning
    from tarif_common import redis_client

    await engine.provision(account("acct", "38692000001", eur("5.00")))
    now = engine.clock.now
    assert (await engine.stub.ChargeEvent(sms("38692000001", "a1", now))).result == pb.SUCCESS

    async def crashing(client: Any, steps: list[redis_client.Step]) -> None:
        await redis_client.write_in_order(client, steps[:steps_done])
        raise Crash

    replaced = account("acct", "38692000002", eur("5.00"))
    monkeypatch.setattr(provisioning, "write_in_order", crashing)
    with pytest.raises(Crash):
        await engine.provision(replaced)
    monkeypatch.undo()
    old = await engine.stub.ChargeEvent(sms("38692000001", "a2", now))
    assert old.result == (pb.SUCCESS if steps_done == 1 else pb.USER_UNKNOWN)
    new = await engine.stub.ChargeEvent(sms("38692000002", "b1", now))
    assert new.result == (pb.SUCCESS if steps_done == 3 else pb.USER_UNKNOWN)

    await engine.provision(replaced)
    assert (await engine.stub.ChargeEvent(sms("38692000002", "b2", now))).result == pb.SUCCESS
    old = await engine.stub.ChargeEvent(sms("38692000001", "a3", now))
    assert old.result == pb.USER_UNKNOWN
    assert await engine.balance("38692000002") == 495  # provisioned at 5.00 again, then b2


async def test_a_catalog_publish_reaches_the_engine_through_the_cluster(
    cluster: EmbeddedCluster,
) -> None:
    """The engine hears of a publish on the catalog channel (polling is set to 60 s here)."""
    client = connect(cluster.url)
    try:
        async with running_engine(  # type: ignore[arg-type]
            cluster.url, client, catalog_poll_interval=60.0
        ) as engine:
            before = engine.app.catalog.version
            await asyncio.sleep(0.2)  # the watcher has subscribed
            provisioner = Provisioner(client, PARTITIONS)
            await provisioner.publish_catalog(catalog())
            await eventually(lambda: engine.app.catalog.version == before + 1, within=5.0)
    finally:
        await client.aclose()
