"""Unratable usage in the back office: listed, corrected, re-rated through the engine, once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from admin_api import unrated
from billing_batch.metrics import BatchMetrics
from tarif.charging.v1 import charging_pb2 as pb
from tarif_client.engine import GrpcEngine
from tarif_common.errors import Conflict, InvalidRequest, NotFound
from tests.integration.harness import Engine, account, eur
from tests.integration.requests import sms

MSISDN = "38640000111"


@pytest.fixture
async def grpc_engine(engine: Engine) -> AsyncIterator[GrpcEngine]:
    client = GrpcEngine(f"127.0.0.1:{engine.app.grpc_port}")
    yield client
    await client.close()


async def kept(engine: Engine, pg: asyncpg.Pool, event: pb.EventRequest) -> dict[str, Any]:
    answer = await engine.stub.ChargeEvent(event)
    assert answer.result in (pb.USER_UNKNOWN, pb.RATING_FAILED)
    assert await engine.ingest_unrated(pg) == 1
    async with pg.acquire() as conn:
        (row,) = await unrated.list_unrated(conn, subscriber=event.subscriber)
    return row


async def test_listed_corrected_re_rated_charged_once_and_again_no_change(
    engine: Engine, pg: asyncpg.Pool, grpc_engine: GrpcEngine
) -> None:
    await engine.provision(account("r1", MSISDN, eur("1.00")))
    row = await kept(engine, pg, sms(MSISDN, "cdr-1", engine.clock.now, service="texto"))
    assert (row["event_id"], row["reason"], row["status"]) == ("cdr-1", "unknown_service", "open")
    assert (row["service"], row["units"], row["attributes"]) == (
        "texto",
        1,
        {"destination": "38641000000"},
    )
    async with pg.acquire() as conn:
        fixed = await unrated.correct(conn, row["id"], service="sms")
    assert (fixed["status"], fixed["service"], fixed["corrections"]) == ("corrected", "sms", 1)
    assert fixed["original"]["service"] == "texto"

    done = await unrated.rerate(pg, grpc_engine, row["id"])
    assert (done["status"], done["result"], done["cost"], done["currency"]) == (
        "rerated",
        "SUCCESS",
        "0.05",
        "EUR",
    )
    assert done["rerate_id"] == "cdr-1"  # the client's own id: the engine's idempotency key
    assert await engine.balance(MSISDN) == 95

    again = await unrated.rerate(pg, grpc_engine, row["id"])
    assert again == done  # no change, not even an attempt
    assert await engine.balance(MSISDN) == 95
    assert [r["id"] for r in await engine.rated_records()] == ["e:cdr-1"]
    async with pg.acquire() as conn:
        with pytest.raises(Conflict, match="already re-rated"):
            await unrated.correct(conn, row["id"], service="voice")


async def test_an_unknown_identifier_or_a_missing_field_is_corrected(
    engine: Engine, pg: asyncpg.Pool, grpc_engine: GrpcEngine
) -> None:
    await engine.provision(account("r2", MSISDN, eur("1.00")))
    who = await kept(engine, pg, sms("38699000001", "cdr-who", engine.clock.now))
    assert who["reason"] == "unknown_subscriber"
    where = sms(MSISDN, "cdr-where", engine.clock.now)
    del where.attributes["destination"]
    missing = await kept(engine, pg, where)
    assert missing["reason"] == "missing_rating_field"
    assert "destination" in missing["message"]
    async with pg.acquire() as conn:
        await unrated.correct(conn, who["id"], subscriber=MSISDN)
        await unrated.correct(conn, missing["id"], set_attributes={"destination": "38641000000"})
    for row in (who, missing):
        assert (await unrated.rerate(pg, grpc_engine, row["id"]))["status"] == "rerated"
    assert await engine.balance(MSISDN) == 90


async def test_still_unratable_after_correction_it_stays_open_and_is_not_kept_twice(
    engine: Engine, pg: asyncpg.Pool, grpc_engine: GrpcEngine
) -> None:
    await engine.provision(account("r3", MSISDN, eur("1.00")))
    row = await kept(engine, pg, sms(MSISDN, "cdr-3", engine.clock.now, service="texto"))
    async with pg.acquire() as conn:
        await unrated.correct(conn, row["id"], service="telex")
    tried = await unrated.rerate(pg, grpc_engine, row["id"])
    assert (tried["status"], tried["result"]) == ("corrected", "RATING_FAILED")
    assert "telex" in tried["result_message"]
    await engine.ingest_unrated(pg)
    async with pg.acquire() as conn:
        assert len(await unrated.list_unrated(conn)) == 1
    assert await engine.balance(MSISDN) == 100


async def test_refused_for_credit_then_topped_up_it_is_charged_once_under_a_new_id(
    engine: Engine, pg: asyncpg.Pool, grpc_engine: GrpcEngine
) -> None:
    await engine.provision(account("r4", MSISDN, eur("0.00")))
    row = await kept(engine, pg, sms(MSISDN, "cdr-4", engine.clock.now, service="texto"))
    async with pg.acquire() as conn:
        await unrated.correct(conn, row["id"], service="sms")
    refused = await unrated.rerate(pg, grpc_engine, row["id"])
    assert (refused["status"], refused["result"]) == ("rejected", "CREDIT_LIMIT_REACHED")

    # A wrong correction now: the engine keeps it as unratable under the re-rate id, which
    # must not come back as a second unrated event.
    async with pg.acquire() as conn:
        await unrated.correct(conn, row["id"], service="telex")
    assert (await unrated.rerate(pg, grpc_engine, row["id"]))["result"] == "RATING_FAILED"
    assert await engine.ingest_unrated(pg) == 1  # read and acknowledged...
    async with pg.acquire() as conn:
        assert len(await unrated.list_unrated(conn)) == 1  # ...and not kept twice
        await unrated.correct(conn, row["id"], service="sms")

    await engine.provision(account("r4", MSISDN, eur("1.00")))
    charged = await unrated.rerate(pg, grpc_engine, row["id"])
    assert (charged["status"], charged["result"]) == ("rerated", "SUCCESS")
    assert charged["rerate_id"] == f"tarif-rerate:{row['id']}:1"
    assert await engine.balance(MSISDN) == 95
    await unrated.rerate(pg, grpc_engine, row["id"])
    assert await engine.balance(MSISDN) == 95


async def test_concurrent_re_ratings_charge_once(
    engine: Engine, pg: asyncpg.Pool, grpc_engine: GrpcEngine
) -> None:
    await engine.provision(account("r5", MSISDN, eur("1.00")))
    row = await kept(engine, pg, sms("38699000005", "cdr-5", engine.clock.now))
    async with pg.acquire() as conn:
        await unrated.correct(conn, row["id"], subscriber=MSISDN)
    metrics = BatchMetrics(CollectorRegistry())
    results = await asyncio.gather(
        *(unrated.rerate(pg, grpc_engine, row["id"], metrics.reratings) for _ in range(5))
    )
    assert {r["status"] for r in results} == {"rerated"}
    assert await engine.balance(MSISDN) == 95
    assert len(await engine.rated_records()) == 1
    assert metrics.reratings.labels("SUCCESS")._value.get() >= 1


async def test_bad_corrections_are_refused_and_change_nothing(
    engine: Engine, pg: asyncpg.Pool, grpc_engine: GrpcEngine
) -> None:
    await engine.provision(account("r6", MSISDN, eur("1.00")))
    row = await kept(engine, pg, sms(MSISDN, "cdr-6", engine.clock.now, service="texto"))
    async with pg.acquire() as conn:
        with pytest.raises(NotFound):
            await unrated.correct(conn, 999_999, service="sms")
        with pytest.raises(NotFound):
            await unrated.get_unrated(conn, 999_999)
        with pytest.raises(InvalidRequest, match="subscriber"):
            await unrated.correct(conn, row["id"], subscriber="not an id!")
        with pytest.raises(InvalidRequest, match="nothing to change"):
            await unrated.correct(conn, row["id"])
        with pytest.raises(InvalidRequest, match="attributes"):
            await unrated.correct(conn, row["id"], set_attributes={"x": "y" * 1000})
        with pytest.raises(InvalidRequest, match="status"):
            await unrated.list_unrated(conn, status="lost")
        assert await unrated.get_unrated(conn, row["id"]) == row
    with pytest.raises(NotFound):
        await unrated.rerate(pg, grpc_engine, 999_999)


async def test_a_correction_after_a_lost_answer_is_not_charged_under_a_new_id(
    engine: Engine, pg: asyncpg.Pool, grpc_engine: GrpcEngine
) -> None:
    """The engine charged the re-rate but our record of it was lost (a crash), then the event was
    corrected again: the engine refuses the id for a different event, and the row keeps its id
    (a fresh one would charge the usage twice) until the correction is undone."""
    await engine.provision(account("r7", MSISDN, eur("1.00")))
    row = await kept(engine, pg, sms(MSISDN, "cdr-7", engine.clock.now, service="texto"))
    async with pg.acquire() as conn:
        await unrated.correct(conn, row["id"], service="sms")
        fixed = await unrated.get_unrated(conn, row["id"])
    lost = await grpc_engine.charge_event(  # what the re-rate sent before the crash
        event_id="cdr-7",
        subscriber=MSISDN,
        service="sms",
        event_time=datetime.fromisoformat(fixed["event_time"]),
        units=1,
        attributes=fixed["attributes"],
    )
    assert lost.result == "SUCCESS"
    async with pg.acquire() as conn:
        await unrated.correct(conn, row["id"], set_attributes={"destination": "38641999999"})
    refused = await unrated.rerate(pg, grpc_engine, row["id"])
    assert (refused["status"], refused["result"], refused["rerate_id"]) == (
        "corrected",
        "IDEMPOTENCY_CONFLICT",
        "cdr-7",
    )
    assert refused["result_message"] == "event_id cdr-7 was already used for a different request"
    assert await engine.balance(MSISDN) == 95
    async with pg.acquire() as conn:
        await unrated.correct(conn, row["id"], set_attributes={"destination": "38641000000"})
    done = await unrated.rerate(pg, grpc_engine, row["id"])
    assert (done["status"], done["result"], done["rerate_id"]) == ("rerated", "SUCCESS", "cdr-7")
    assert await engine.balance(MSISDN) == 95  # charged once
