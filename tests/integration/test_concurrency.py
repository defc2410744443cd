"""Concurrent charges never overspend: the atomic step serialises them per account."""

from __future__ import annotations

import asyncio
from collections import Counter

from redis.asyncio import Redis

from tarif.charging.v1 import charging_pb2 as pb
from tests.integration.harness import Engine, account, eur, running_engine
from tests.integration.requests import sms, voice


async def test_500_concurrent_events_on_a_balance_for_exactly_37(engine: Engine) -> None:
    await engine.provision(account("c1", "38640000021", eur("1.85")))  # 37 SMS at 0.05
    answers = await asyncio.gather(
        *(
            engine.stub.ChargeEvent(sms("38640000021", f"c-{i}", engine.clock.now))
            for i in range(500)
        )
    )
    results = Counter(a.result for a in answers)
    assert results == {pb.SUCCESS: 37, pb.CREDIT_LIMIT_REACHED: 463}
    assert await engine.balance("38640000021") == 0
    records = await engine.rated_records()
    assert len(records) == 37
    assert sum(int(r["cost"]) for r in records) == 185


async def test_concurrent_sessions_never_reserve_more_than_the_balance(engine: Engine) -> None:
    # 1.20 EUR = 10 minutes at 0.12: 20 sessions asking 60 s each get 10 grants between them.
    await engine.provision(account("c2", "38640000022", eur("1.20")))
    answers = await asyncio.gather(
        *(
            engine.stub.StartSession(
                voice("38640000022", f"s-{i}", 0, engine.clock.now, requested=60)
            )
            for i in range(20)
        )
    )
    assert sum(a.granted_units for a in answers) == 600
    assert Counter(a.result for a in answers) == {pb.SUCCESS: 10, pb.CREDIT_LIMIT_REACHED: 10}
    report = await engine.stub.GetBalances(pb.BalanceQuery(subscriber="38640000022"))
    (main,) = report.balances
    assert (main.amount, main.reserved, main.available) == (120, 120, 0)


async def test_a_small_redis_pool_makes_requests_wait_not_fail(
    redis_url: str, redis: Redis
) -> None:
    async with running_engine(redis_url, redis, redis_max_connections=2) as small:
        await small.provision(account("c3", "38640000023", eur("100.00")))
        answers = await asyncio.gather(
            *(
                small.stub.StartSession(
                    voice("38640000023", f"p-{i}", 0, small.clock.now, requested=60)
                )
                for i in range(150)
            )
        )
        assert Counter(a.result for a in answers) == {pb.SUCCESS: 150}
