"""The charging scripts' pipelined transport against a real Redis: order, NOSCRIPT, a lost
connection, a hung server, credentials, a database, and a real MOVED on a real cluster."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import grpc
import pytest
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from tarif.charging.v1 import charging_pb2 as pb
from tarif_common.embedded import EmbeddedRedis
from tarif_common.embedded_cluster import EmbeddedCluster
from tarif_common.redis_client import connect
from tarif_common.redis_pipe import LuaScript, NodeOptions, ScriptCall, ScriptPipe, pack_command
from tests.integration.harness import account, eur, running_engine
from tests.integration.requests import sms, voice
from tests.integration.tcp_proxy import proxied

MSISDN = "38640000071"

OURS = "tarif-scripts-test"  # this file's pipes, told apart from engines' in CLIENT LIST
# counts its runs in KEYS[1] and answers its argument and that count
COUNT = LuaScript("local n = redis.call('INCR', KEYS[1]) return {ARGV[1], n}")
FAILS = LuaScript("return redis.error_reply('ERR tarif test: ' .. ARGV[1])")


@pytest.fixture
async def pipe(redis_url: str, redis: Redis) -> AsyncIterator[ScriptPipe]:
    script_pipe = ScriptPipe.for_client(redis_url, redis, timeout=2.0, name=OURS)
    yield script_pipe
    await script_pipe.aclose()


async def script_connections(redis: Redis, name: str = OURS) -> list[str]:
    """Ids of the connections named `name` (the tests' own pipes are named OURS; the engine's
    are `tarif-scripts`) to this test's database: other workers use other databases."""
    db = str(redis.connection_pool.connection_kwargs.get("db", 0))
    clients = await redis.client_list()
    return [c["id"] for c in clients if c["name"] == name and c["db"] == db]


def count(key: str, arg: str | int | bytes) -> ScriptCall:
    return ScriptCall(COUNT, [key], [arg])


async def test_replies_come_back_to_their_callers_in_order(pipe: ScriptPipe, redis: Redis) -> None:
    async def caller(n: int) -> list[list[object]]:
        return [(await pipe.run([count(f"k{n}", f"{n}-{i}")]))[0] for i in range(20)]

    answers = await asyncio.gather(*(caller(n) for n in range(50)))
    for n, replies in enumerate(answers):
        assert replies == [[f"{n}-{i}".encode(), i + 1] for i in range(20)]
    batch = await pipe.run([count("b", i) for i in range(300)])
    assert batch == [[str(i).encode(), i + 1] for i in range(300)]
    assert int(await redis.get("b") or 0) == 300


async def test_a_flushed_script_is_sent_again_and_runs_once(pipe: ScriptPipe, redis: Redis) -> None:
    assert await pipe.run([count("once", "a")]) == [[b"a", 1]]
    await redis.script_flush()
    assert await pipe.run([count("once", "b"), count("once", "c")]) == [[b"b", 2], [b"c", 3]]
    await redis.script_flush()
    assert await pipe.run([count("once", "d")]) == [[b"d", 4]]
    assert await redis.script_exists(COUNT.sha) == [True]  # EVAL cached it again


async def test_a_script_error_is_raised_after_the_others_ran(
    pipe: ScriptPipe, redis: Redis
) -> None:
    with pytest.raises(redis_errors.ResponseError, match="tarif test: boom"):
        await pipe.run([count("e", 1), ScriptCall(FAILS, ["e"], ["boom"]), count("e", 3)])
    assert int(await redis.get("e") or 0) == 2
    with pytest.raises(redis_errors.ResponseError, match="tarif test: alone"):
        await pipe.run([ScriptCall(FAILS, ["e"], ["alone"])])
    assert await pipe.run([count("e", 4)]) == [[b"4", 3]]  # the connection is still good


async def test_a_killed_connection_fails_and_the_next_call_reconnects(
    pipe: ScriptPipe, redis: Redis
) -> None:
    await pipe.run([count("kill", 1)])
    ours = await script_connections(redis)
    assert len(ours) == 1
    await redis.client_kill_filter(_id=ours[0])
    await asyncio.sleep(0.05)  # the close reaches the client
    assert await pipe.run([count("kill", 2)]) == [[b"2", 2]]
    again = await script_connections(redis)
    assert len(again) == 1
    assert again != ours


async def test_a_server_gone_fails_every_call_in_flight_then_comes_back(
    redis_url: str, redis: Redis
) -> None:
    async with proxied(redis_url) as (url, proxy):
        pipe = ScriptPipe.for_client(url, redis, timeout=2.0)
        try:
            assert await pipe.run([count("gone", 0)]) == [[b"0", 1]]
            await proxy.cut()
            with pytest.raises(redis_errors.ConnectionError):
                await pipe.run([count("gone", 1)])
            with pytest.raises(redis_errors.ConnectionError):  # nobody listens: connect fails
                await pipe.run([count("gone", 2), count("gone", 3)])
            await proxy.restore()
            assert await pipe.run([count("gone", 4)]) == [[b"4", 2]]
        finally:
            await pipe.aclose()


async def test_a_hung_server_times_out_every_call_in_flight(redis_url: str, redis: Redis) -> None:
    async with proxied(redis_url) as (url, proxy):
        pipe = ScriptPipe.for_client(url, redis, timeout=0.5)
        try:
            assert await pipe.run([count("hung", 0)]) == [[b"0", 1]]
            proxy.stall()
            started = asyncio.get_running_loop().time()
            results = await asyncio.gather(
                *(pipe.run([count("hung", i)]) for i in range(5)), return_exceptions=True
            )
            waited = asyncio.get_running_loop().time() - started
            assert all(isinstance(r, redis_errors.TimeoutError) for r in results), results
            assert 0.4 < waited < 2.0
            proxy.flow()
            # a new connection; the stalled commands may have run after all (the callers'
            # request ids make a retry safe), so only this call's own answer is checked
            reply = (await pipe.run([count("hung", "after")]))[0]
            assert reply[0] == b"after"
        finally:
            await pipe.aclose()


async def test_credentials_and_database_of_the_url(redis_url: str, redis: Redis) -> None:
    user, secret = f"pipe-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    await redis.acl_setuser(
        user, enabled=True, passwords=[f"+{secret}"], keys=["*"], commands=["+@all"]
    )
    parts = urlsplit(redis_url)
    try:
        other_db = (int(parts.path.strip("/") or 0) + 1) % 16
        url = urlunsplit(
            parts._replace(netloc=f"{user}:{secret}@{parts.netloc}", path=f"/{other_db}")
        )
        pipe = ScriptPipe.for_client(url, redis)
        try:
            assert await pipe.run([count("creds", "x")]) == [[b"x", 1]]
        finally:
            await pipe.aclose()
        assert await redis.get("creds") is None  # written in the URL's database, not ours
        other = Redis.from_url(urlunsplit(parts._replace(path=f"/{other_db}")))
        try:
            assert await other.getdel("creds") == b"1"
        finally:
            await other.aclose()
        wrong = urlunsplit(parts._replace(netloc=f"{user}:nope@{parts.netloc}"))
        pipe = ScriptPipe.for_client(wrong, redis)
        try:
            with pytest.raises(redis_errors.ConnectionError, match="greeting"):
                await pipe.run([count("creds", "y")])
        finally:
            await pipe.aclose()
    finally:
        await redis.acl_deluser(user)


def test_commands_are_packed_as_resp_and_floats_refused() -> None:
    assert pack_command(["EVALSHA", "ab", 1, b"k\r\n", -3]) == (
        b"*5\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n1\r\n$3\r\nk\r\n\r\n$2\r\n-3\r\n"
    )
    with pytest.raises(redis_errors.DataError):
        pack_command(["SET", "k", 1.5])  # type: ignore[list-item]
    options = NodeOptions.from_url("rediss://u:p@h:7000/3", 1.0)
    assert (options.host, options.port, options.username, options.password, options.db) == (
        "h", 7000, "u", "p", 3)  # fmt: skip
    assert options.tls is not None


@pytest.mark.slow
async def test_a_stale_slot_map_is_mended_by_moved(tmp_path: Path) -> None:
    with EmbeddedCluster(tmp_path / "cluster") as cluster:
        client = connect(cluster.url)
        assert isinstance(client, RedisCluster)
        pipe = ScriptPipe.for_client(cluster.url, client)
        try:
            keys = [f"{{p{n}}}:moved" for n in range(12)]  # slots on every master
            assert await pipe.run([count(k, "a") for k in keys]) == [[b"a", 1]] * 12
            nodes = {(n.host, n.port) for n in client.get_primaries()}
            assert len(nodes) == 3
            # point every slot at one node: the two others' keys come back MOVED
            manager = client.nodes_manager
            wrong = client.get_primaries()[0]
            for slot in manager.slots_cache:
                manager.slots_cache[slot] = [wrong]
            assert await pipe.run([count(k, "b") for k in keys]) == [[b"b", 2]] * 12
            served = {(n[0].host, n[0].port) for n in manager.slots_cache.values()}
            assert served == nodes  # the MOVED replies made the pipe refresh the map
            assert await pipe.run([count(keys[5], "c")]) == [[b"c", 3]]
            for key in keys:
                assert await client.get(key) == (b"3" if key == keys[5] else b"2")
        finally:
            await pipe.aclose()
            await client.aclose()


async def test_the_engine_answers_unavailable_while_redis_is_away_then_charges_once(
    redis_url: str, redis: Redis
) -> None:
    async with (
        proxied(redis_url) as (url, proxy),
        running_engine(url, redis, redis_timeout=1.0) as engine,
    ):
        await engine.provision(account("out1", MSISDN, eur("10.00")))
        idle = set(await script_connections(redis, "tarif-scripts"))
        first = await engine.stub.ChargeEvent(sms(MSISDN, "out-1", engine.clock.now))
        assert first.result == pb.SUCCESS
        # the charge opened the engine's own connection for scripts
        assert set(await script_connections(redis, "tarif-scripts")) - idle
        before = await engine.balance(MSISDN)
        await proxy.cut()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await engine.stub.ChargeEvent(sms(MSISDN, "out-2", engine.clock.now))
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        batch = pb.EventBatch(events=[sms(MSISDN, "out-2", engine.clock.now)])
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in engine.stub.ChargeEvents(iter([batch])):
                pass
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        await proxy.restore()
        for _ in range(2):  # the client's retry, then a replay: one charge
            again = await engine.stub.ChargeEvent(sms(MSISDN, "out-2", engine.clock.now))
            assert again.result == pb.SUCCESS
        assert first.cost.minor_units > 0
        assert before - await engine.balance(MSISDN) == first.cost.minor_units


async def test_several_connections_share_the_calls(redis_url: str, redis: Redis) -> None:
    pipe = ScriptPipe.for_client(redis_url, redis, connections=3, name=OURS)
    try:
        replies = await asyncio.gather(*(pipe.run([count("many", i)]) for i in range(30)))
        assert sorted(int(r[0][0]) for r in replies) == list(range(30))
        assert sorted(r[0][1] for r in replies) == list(range(1, 31))  # each ran once
        assert len(await script_connections(redis)) == 3
    finally:
        await pipe.aclose()


@pytest.mark.fault
async def test_redis_cut_under_load_charges_every_retried_event_once(
    redis_url: str, redis: Redis
) -> None:
    """Connections die with calls in flight (some ran in Redis, their answers lost); clients
    retry on UNAVAILABLE with the same event id: every event is charged once, none is lost."""
    callers = 16
    async with (
        proxied(redis_url) as (url, proxy),
        running_engine(url, redis, redis_timeout=1.0) as engine,
    ):
        await engine.provision(account("cut1", MSISDN, eur("10000.00")))
        before = await engine.balance(MSISDN)
        numbers = itertools.count()
        statuses: list[grpc.StatusCode] = []
        cutting = asyncio.Event()

        async def charge(n: int) -> int:
            while True:
                try:
                    answer = await engine.stub.ChargeEvent(
                        sms(MSISDN, f"cut-{n}", engine.clock.now)
                    )
                except grpc.aio.AioRpcError as error:
                    statuses.append(error.code())
                    await asyncio.sleep(0.02)
                    continue
                assert answer.result == pb.SUCCESS
                return int(answer.cost.minor_units)

        async def caller() -> dict[int, int]:
            costs = {}
            while not cutting.is_set() or len(statuses) == 0:
                n = next(numbers)
                costs[n] = await charge(n)
            return costs

        async def cuts() -> None:
            for _ in range(3):
                await asyncio.sleep(0.15)
                await proxy.cut()
                await asyncio.sleep(0.1)
                await proxy.restore()
            cutting.set()

        per_caller, _ = await asyncio.wait_for(
            asyncio.gather(asyncio.gather(*(caller() for _ in range(callers))), cuts()), 30
        )
        charged = {n: cost for costs in per_caller for n, cost in costs.items()}
        assert statuses  # the cuts did land on calls in flight...
        assert set(statuses) == {grpc.StatusCode.UNAVAILABLE}  # ...and were answered UNAVAILABLE
        assert sorted(charged) == list(range(len(charged)))  # every event answered SUCCESS
        assert before - await engine.balance(MSISDN) == sum(charged.values())
        ids = [r["id"] for r in await engine.rated_records() if r["id"].startswith("e:cut-")]
        assert sorted(ids) == sorted(f"e:cut-{n}" for n in charged)  # one record each


@pytest.mark.parametrize("over_pipe", [True, False], ids=["pipe", "redis-py"])
async def test_a_demoted_master_is_answered_unavailable(tmp_path: Path, over_pipe: bool) -> None:
    """READONLY (the engine's Redis made a replica, as after a failover) is Redis being
    unavailable to the engine, not an internal error, for events and for sessions."""
    with (
        EmbeddedRedis(tmp_path / "a", appendfsync="everysec") as first,
        EmbeddedRedis(tmp_path / "b", appendfsync="everysec") as second,
    ):
        client = Redis.from_url(first.url)
        try:
            async with running_engine(
                first.url, client, redis_timeout=1.0, redis_pipe=over_pipe
            ) as engine:
                await engine.provision(account("ro1", MSISDN, eur("10.00")))
                ok = await engine.stub.ChargeEvent(sms(MSISDN, "ro-1", engine.clock.now))
                assert ok.result == pb.SUCCESS
                await client.replicaof("127.0.0.1", second.port)
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await engine.stub.ChargeEvent(sms(MSISDN, "ro-2", engine.clock.now))
                assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await engine.stub.StartSession(
                        voice(MSISDN, "ro-s", 0, engine.clock.now, requested=60)
                    )
                assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
                await client.replicaof("NO", "ONE")
        finally:
            await client.aclose()


async def test_a_full_redis_is_answered_unavailable_and_charges_nothing(tmp_path: Path) -> None:
    """OOM (maxmemory reached, no eviction) refuses the step as a whole: UNAVAILABLE, the
    balance untouched, and the same event charged once when memory is back."""
    with EmbeddedRedis(tmp_path / "full", appendfsync="everysec") as server:
        client = Redis.from_url(server.url)
        try:
            async with running_engine(server.url, client, redis_timeout=1.0) as engine:
                await engine.provision(account("oom1", MSISDN, eur("10.00")))
                before = await engine.balance(MSISDN)
                await client.config_set("maxmemory-policy", "noeviction")
                await client.config_set("maxmemory", 1)
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await engine.stub.ChargeEvent(sms(MSISDN, "oom-1", engine.clock.now))
                assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
                await client.config_set("maxmemory", 0)
                assert await engine.balance(MSISDN) == before
                again = await engine.stub.ChargeEvent(sms(MSISDN, "oom-1", engine.clock.now))
                assert again.result == pb.SUCCESS
                assert before - await engine.balance(MSISDN) == again.cost.minor_units
        finally:
            await client.aclose()


async def test_closing_while_connecting_leaves_no_connection(redis_url: str, redis: Redis) -> None:
    pipe = ScriptPipe.for_client(redis_url, redis, name=OURS)
    running = asyncio.ensure_future(pipe.run([count("closing", 1)]))
    await asyncio.sleep(0)  # its connection is being opened
    await pipe.aclose()
    with pytest.raises(redis_errors.ConnectionError):
        await running
    with pytest.raises(redis_errors.ConnectionError):  # closed for good: no new connection
        await pipe.run([count("closing", 2)])
    await asyncio.sleep(0.05)
    assert await script_connections(redis) == []
    assert await redis.get("closing") is None
