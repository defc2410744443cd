"""`TARIF_ENGINE_MAX_CONNECTION_AGE` reaches the gRPC server: a client's connection is closed
gracefully (GOAWAY) once it is that old, the channel reconnects by itself and every call still
succeeds; a ChargeEvents stream outlives its connection's age unless a grace is set."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from redis.asyncio import Redis

from tarif.charging.v1 import charging_pb2 as pb
from tests.integration.harness import Engine, account, eur, running_engine
from tests.integration.requests import sms

MSISDN = "38640000291"


async def watching(channel: grpc.aio.Channel, states: list[grpc.ChannelConnectivity]) -> None:
    """Every connectivity state the channel goes through (until cancelled)."""
    state = channel.get_state()
    while True:
        states.append(state)
        await channel.wait_for_state_change(state)
        state = channel.get_state()


def goaways(states: list[grpc.ChannelConnectivity]) -> int:
    """How many times a ready connection went away (READY then IDLE: the server closed it)."""
    went = (grpc.ChannelConnectivity.READY, grpc.ChannelConnectivity.IDLE)
    return sum(1 for pair in itertools.pairwise(states) if pair == went)


async def for_seconds(seconds: float, step: Callable[[int], Awaitable[Any]]) -> int:
    """Calls `step(i)` every 50 ms for `seconds`; returns how many times."""
    end, i = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        await step(i)
        i += 1
        await asyncio.sleep(0.05)
    return i


@pytest.mark.parametrize("age", [0.0, 1.0])
async def test_connections_are_renewed_at_their_age_and_calls_go_on(
    redis_url: str, redis: Redis, age: float
) -> None:
    async with running_engine(redis_url, redis, engine_max_connection_age=age) as engine:
        await engine.provision(account("ca1", MSISDN, eur("100.00")))
        results: list[int] = []

        async def charge(i: int) -> None:
            answer = await engine.stub.ChargeEvent(sms(MSISDN, f"ca{age}-{i}", engine.clock.now))
            results.append(answer.result)

        await charge(-1)  # connected
        states: list[grpc.ChannelConnectivity] = []
        watcher = asyncio.create_task(watching(engine.channel, states))
        try:
            calls = await for_seconds(3.5, charge)
        finally:
            watcher.cancel()
    assert results == [pb.SUCCESS] * (calls + 1)  # no call saw the connections change
    if age:
        assert goaways(states) >= 2  # 1 s +-10 %: three in 3.5 s, usually
    else:
        assert states == [grpc.ChannelConnectivity.READY]  # one connection all along


async def stream_for(
    engine: Engine, seconds: float, tag: str
) -> tuple[int, grpc.StatusCode | None]:
    """Batches answered on one ChargeEvents stream kept open for `seconds`, and the status it
    ended with if the server ended it first (None: open all along)."""
    call = engine.stub.ChargeEvents()

    async def batch(i: int) -> None:
        await call.write(pb.EventBatch(events=[sms(MSISDN, f"{tag}{i}", engine.clock.now)]))
        answer = await call.read()
        assert [a.result for a in answer.answers] == [pb.SUCCESS]

    answered = 0

    async def counted(i: int) -> None:
        nonlocal answered
        await batch(i)
        answered += 1

    try:
        await for_seconds(seconds, counted)
    except (grpc.aio.AioRpcError, asyncio.InvalidStateError):  # read, or write once ended
        return answered, await call.code()
    call.cancel()
    return answered, None


async def test_a_stream_outlives_the_connection_age_without_a_grace(
    redis_url: str, redis: Redis
) -> None:
    async with running_engine(redis_url, redis, engine_max_connection_age=0.5) as engine:
        await engine.provision(account("ca2", MSISDN, eur("100.00")))
        answered, ended = await stream_for(engine, 2.0, "long")  # four times the age
        assert (answered > 10, ended) == (True, None)
        answered, ended = await stream_for(engine, 0.2, "next")
        assert (answered > 0, ended) == (True, None)


async def test_the_grace_ends_a_stream_open_too_long_and_a_new_one_goes_on(
    redis_url: str, redis: Redis
) -> None:
    async with running_engine(
        redis_url, redis, engine_max_connection_age=0.5, engine_max_connection_age_grace=0.5
    ) as engine:
        await engine.provision(account("ca3", MSISDN, eur("100.00")))
        started = time.monotonic()
        answered, ended = await stream_for(engine, 5.0, "cut")
        assert (answered > 0, ended) == (True, grpc.StatusCode.UNAVAILABLE)
        assert 0.7 < time.monotonic() - started < 4.0  # age (+-10 %) and grace, not 5 s
        answered, ended = await stream_for(engine, 0.2, "again")  # a new stream and connection
        assert (answered > 0, ended) == (True, None)
