"""Engine plumbing: health, reflection, metrics, script reload, live catalog, moved subscribers."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from redis.asyncio import Redis

from tarif.charging.v1 import charging_pb2 as pb
from tarif_balances.provisioning import Provisioner
from tarif_common import request_ids
from tests.integration.harness import Engine, account, catalog, eur, running_engine
from tests.integration.requests import sms, voice

MSISDN = "38640000061"


@pytest.fixture
async def metered(redis_url: str, redis: Redis) -> AsyncIterator[Engine]:
    async with running_engine(redis_url, redis, serve_metrics=True) as running:
        yield running


async def test_health_and_reflection(engine: Engine) -> None:
    health = health_pb2_grpc.HealthStub(engine.channel)
    for name in ("", "tarif.charging.v1.ChargingService"):
        answer = await health.Check(health_pb2.HealthCheckRequest(service=name))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(engine.channel)
    responses = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    async for response in responses:
        names = {s.name for s in response.list_services_response.service}
        assert "tarif.charging.v1.ChargingService" in names
        break


async def test_metrics_endpoint(metered: Engine) -> None:
    await metered.provision(account("m1", MSISDN, eur("10.00")))
    await metered.stub.ChargeEvent(sms(MSISDN, "m-1", metered.clock.now))
    await metered.stub.StartSession(voice(MSISDN, "open", 0, metered.clock.now, requested=60))
    from engine.housekeeping import refresh_gauges

    await refresh_gauges(metered.redis, metered.app.partitions, metered.app.metrics)
    url = f"http://127.0.0.1:{metered.app.metrics_port}/metrics"
    text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    assert 'tarif_engine_requests_total{result="SUCCESS",rpc="ChargeEvent"} 1.0' in text
    assert 'tarif_engine_request_seconds_count{rpc="StartSession"} 1.0' in text
    assert 'tarif_engine_redis_script_seconds_count{script="session"} 1.0' in text
    assert "tarif_engine_open_sessions 1.0" in text
    assert 'tarif_engine_reserved_units{resource="EUR"} 12.0' in text


async def test_health_calls_pass_the_edge_too(metered: Engine) -> None:
    """Every service the engine serves gets a request id and is counted, not only charging."""
    health = health_pb2_grpc.HealthStub(metered.channel)
    call = health.Check(
        health_pb2.HealthCheckRequest(service=""), metadata=((request_ids.METADATA, "rq-h1"),)
    )
    await call
    assert (request_ids.METADATA, "rq-h1") in tuple(await call.trailing_metadata())
    url = f"http://127.0.0.1:{metered.app.metrics_port}/metrics"
    text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    assert 'tarif_engine_request_seconds_count{rpc="Check"} 1.0' in text


async def test_charging_survives_script_flush(engine: Engine) -> None:
    await engine.provision(account("m2", MSISDN, eur("10.00")))
    await engine.redis.script_flush()
    answer = await engine.stub.ChargeEvent(sms(MSISDN, "after-flush", engine.clock.now))
    assert answer.result == pb.SUCCESS
    await engine.redis.script_flush()
    start = await engine.stub.StartSession(voice(MSISDN, "s", 0, engine.clock.now, requested=60))
    assert start.granted_units == 60


async def test_published_catalog_is_used_without_restart(engine: Engine) -> None:
    await engine.provision(account("m3", MSISDN, eur("10.00")))
    assert (
        await engine.stub.ChargeEvent(sms(MSISDN, "old", engine.clock.now))
    ).cost.minor_units == 5
    doc = catalog()
    doc["tariffs"]["sms-std"]["rates"][0]["price"] = "0.07"
    await Provisioner(engine.redis, engine.app.partitions).publish_catalog(doc)
    for _ in range(50):  # the watcher reacts to the announcement; no manual refresh here
        await asyncio.sleep(0.02)
        answer = await engine.stub.ChargeEvent(
            sms(MSISDN, f"new-{_}", engine.clock.now, action=pb.PRICE_ENQUIRY)
        )
        if answer.cost.minor_units == 7:
            break
    assert answer.cost.minor_units == 7


async def test_a_moved_service_identifier_charges_its_new_account(engine: Engine) -> None:
    await engine.provision(account("old", MSISDN, eur("10.00")))
    await engine.stub.ChargeEvent(sms(MSISDN, "before", engine.clock.now))  # caches the route
    await engine.provision(account("old", "38649999999", eur("10.00")))  # MSISDN leaves "old"
    await engine.provision(account("new", MSISDN, eur("1.00")))
    moved = await engine.stub.ChargeEvent(sms(MSISDN, "after", engine.clock.now))
    assert moved.result == pb.SUCCESS
    report = await engine.stub.GetBalances(pb.BalanceQuery(subscriber=MSISDN))
    assert (report.account, report.balances[0].amount) == ("new", 95)
    assert await engine.balance("38649999999") == 1000  # provisioning sets amounts as written


async def test_batch_answers_keep_the_order_of_the_events(engine: Engine) -> None:
    await engine.provision(
        account("m4", MSISDN, eur("0.10")), account("m5", "38640000062", eur("1.00"))
    )
    events = [
        sms(MSISDN, "b-1", engine.clock.now),
        sms("nobody", "b-2", engine.clock.now),
        sms("38640000062", "b-3", engine.clock.now, service="fax"),
        sms(MSISDN, "b-4", engine.clock.now),
        sms(MSISDN, "b-5", engine.clock.now),
        sms("38640000062", "b-6", engine.clock.now),
    ]
    call = engine.stub.ChargeEvents()
    await call.write(pb.EventBatch(events=events))
    answer = await call.read()
    await call.done_writing()
    assert [(a.event_id, a.result) for a in answer.answers] == [
        ("b-1", pb.SUCCESS),
        ("b-2", pb.USER_UNKNOWN),
        ("b-3", pb.RATING_FAILED),
        ("b-4", pb.SUCCESS),
        ("b-5", pb.CREDIT_LIMIT_REACHED),
        ("b-6", pb.SUCCESS),
    ]
