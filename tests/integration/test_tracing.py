"""One charge followed by its request id across the three processes: the engine answers it back
and logs it, writes it into the rated record, the batch stores it in Postgres, and the admin API
(and `tarif trace`) shows the charge's path after billing: answer, record, bill item, invoice
line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import grpc
import pytest

from billing_batch.rated import RatedIngest
from billing_batch.streams import StreamIngestor
from tarif.charging.v1 import charging_pb2 as pb
from tarif_billing.runs import run_billing
from tarif_common import keys, request_ids
from tarif_common.logs import JsonFormatter
from tests.integration.admin_harness import Admin
from tests.integration.billing_harness import FACTS, context, postpaid_customer
from tests.integration.harness import T0, Engine, account, eur, ts
from tests.integration.notifier_harness import eventually, running_batch
from tests.integration.requests import sms, voice
from tests.integration.test_cli_output import Run, tarif  # noqa: F401 (the fixture)

MSISDN = "38640700001"
DEC = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # local midnight, 1 December (Ljubljana)
RID = "trace-7f3a9c2e-0001"


@contextmanager
def json_lines(logger_name: str, level: int = logging.DEBUG) -> Iterator[io.StringIO]:
    """A logger's lines as production writes them: JSON, with the request id filter."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(request_ids.LogFilter())
    logger = logging.getLogger(logger_name)
    before = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)


def parsed(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def rated_row(pool: asyncpg.Pool, request_id: str) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM rated_events WHERE request_id = $1", request_id)
    assert row is not None, request_id
    return dict(row)


async def test_one_charge_traced_by_its_request_id(
    admin: Admin,
    tarif: Run,  # noqa: F811
    redis_url: str,
    database_url: str,
) -> None:
    engine = admin.engine
    engine.clock.now = T0  # `tarif` moved it to the real time; the bill's cycle is November
    customer = await postpaid_customer(admin, MSISDN)
    account = customer["account_id"]
    with json_lines("engine.edge") as engine_log:
        call = engine.stub.ChargeEvent(
            sms(MSISDN, "t1", T0), metadata=((request_ids.METADATA, RID),)
        )
        answer = await call
        other = engine.stub.ChargeEvent(sms(MSISDN, "t2", T0))  # no id given: the engine's
        await other
    assert answer.result == 1
    assert answer.cost.minor_units == 5
    assert (request_ids.METADATA, RID) in tuple(await call.trailing_metadata())
    made = dict(await other.trailing_metadata())[request_ids.METADATA]
    assert made != RID
    assert len(made) == 32
    lines = [line for line in parsed(engine_log) if line["event"] == "rpc.done"]
    assert [(line["rpc"], line["result"], line["request_id"]) for line in lines] == [
        ("ChargeEvent", "SUCCESS", RID),
        ("ChargeEvent", "SUCCESS", made),
    ]

    # the engine's rated record carries it, and the batch process stores it in Postgres
    records = {r["id"]: r for r in await engine.rated_records()}
    assert (records["e:t1"]["rq"], records["e:t2"]["rq"]) == (RID, made)
    async with running_batch(redis_url, database_url) as batch:
        await eventually(lambda: batch.metrics.ingested.labels("rated")._value.get() >= 2)
    assert (await rated_row(admin.pool, "e:t1"))["x_request_id"] == RID

    (issued,) = (await run_billing(admin.pool, context(DEC), FACTS)).invoices
    response = await admin.client.get(
        f"/v1/usage/t1/trace?subscriber={MSISDN}",
        headers=admin.as_("auditor") | {"X-Request-ID": "rq-operator-1"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["X-Request-ID"] == "rq-operator-1"
    traced = response.json()
    assert (traced["event_id"], traced["account_id"]) == ("t1", account)
    kept = traced["answer"]
    assert (kept["result"], kept["cost"], kept["currency"], kept["refunded"]) == (
        "SUCCESS",
        "0.05",
        "EUR",
        "0.00",
    )
    assert kept["fingerprinted"]
    assert 0 < kept["expires_in"] <= 7 * 86400
    record = traced["record"]
    assert (record["request_id"], record["x_request_id"], record["cost"]) == ("e:t1", RID, "0.05")
    assert traced["billed"]
    assert traced["bill"]["invoice_id"] == issued.invoice_id
    (item,) = traced["bill_items"]
    assert (item["kind"], item["service"], item["events"], item["amount"]) == (
        "usage",
        "sms",
        2,  # both SMS: a usage item sums the records of its group, service and rate
        "0.10",
    )
    assert item["rate"] == record["rate"]
    (line,) = traced["invoice_lines"]
    assert (line["invoice_number"], line["bill_item_id"], line["net"]) == (
        issued.number,
        item["id"],
        "0.10",
    )
    assert any("not linked to bill items one by one" in note for note in traced["notes"])

    # the same from the command line (the engine's Redis and Postgres of the test)
    code, out, err = await tarif("trace", "e:t1", "--subscriber", MSISDN, "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["record"]["x_request_id"] == RID
    assert (shown["bill"]["id"], [i["id"] for i in shown["bill_items"]]) == (
        traced["bill"]["id"],
        [item["id"]],
    )
    assert shown["invoice_lines"][0]["invoice_number"] == issued.number
    assert shown["notes"] == traced["notes"]
    code, out, _ = await tarif("trace", "t1")  # without the subscriber: every partition is read
    assert code == 0
    assert f"request id    {RID}" in out
    assert f"{issued.number} #" in out


async def test_an_admin_request_id_reaches_the_engine_and_the_record(admin: Admin) -> None:
    customer = await postpaid_customer(admin, "38640700002")
    body = {"request_id": "m1", "service_identifier": "38640700002", "service": "sms",
            "attributes": {"destination": "38641000000"}}  # fmt: skip
    with json_lines("engine.edge") as engine_log:
        response = await admin.client.post(
            f"/v1/customers/{customer['id']}/events",
            json=body,
            headers=admin.as_("operator") | {"X-Request-ID": "rq-manual-1"},
        )
    assert response.status_code == 200, response.text
    assert response.headers["X-Request-ID"] == "rq-manual-1"
    records = {r["id"]: r for r in await admin.engine.rated_records()}
    assert records["e:m1"]["rq"] == "rq-manual-1"
    assert [line["request_id"] for line in parsed(engine_log)] == ["rq-manual-1"]


async def test_a_trace_says_what_is_not_there_yet(admin: Admin, engine: Engine) -> None:
    await postpaid_customer(admin, "38640700003")
    await engine.stub.ChargeEvent(
        sms("38640700003", "n1", T0), metadata=((request_ids.METADATA, "rq-n1"),)
    )
    answer = await admin.call("GET", "/v1/usage/n1/trace?subscriber=38640700003")
    assert answer.status_code == 200, answer.text
    traced = answer.json()
    assert traced["answer"]["result"] == "SUCCESS"
    assert (traced["record"], traced["bill"], traced["billed"]) == (None, None, False)
    assert any("no rated record in Postgres yet" in note for note in traced["notes"])
    # without the subscriber, nothing in Postgres names the account yet
    assert (await admin.call("GET", "/v1/usage/n1/trace")).status_code == 404
    assert (
        await admin.call("GET", "/v1/usage/nope/trace?subscriber=38640700003")
    ).status_code == 404
    assert (await admin.call("GET", "/v1/usage/a%20b/trace")).status_code == 422


async def test_an_unreadable_record_is_logged_with_its_request_id(
    engine: Engine, pg: asyncpg.Pool
) -> None:
    stream = keys.rated_stream(0)
    await engine.redis.xadd(stream, {"id": "e:bad", "k": "event", "rq": "rq-bad-1"})
    ingestor = StreamIngestor(engine.redis, "rated", [stream], RatedIngest(pg), consumer="t")
    await ingestor.prepare()
    with json_lines("billing_batch.streams", logging.ERROR) as batch_log:
        assert await ingestor.step() == 0  # left pending
    (line,) = parsed(batch_log)
    assert (line["event"], line["record"], line["request_id"]) == (
        "ingest.unreadable_entry",
        "e:bad",
        "rq-bad-1",
    )


@pytest.mark.parametrize("given", ["", "has space", "x" * 200])
async def test_an_unacceptable_request_id_is_replaced(engine: Engine, given: str) -> None:
    reply = engine.stub.GetBalances(  # any RPC: the interceptor answers every one
        pb.BalanceQuery(subscriber="38640700004"), metadata=((request_ids.METADATA, given),)
    )
    await reply
    made = dict(await reply.trailing_metadata())[request_ids.METADATA]
    assert made != given
    assert len(made) == 32


async def test_session_steps_refunds_and_streams_carry_their_call_s_id(engine: Engine) -> None:
    msisdn = "38640700005"
    await engine.provision(account("g5", msisdn, eur("10.00")))
    now = engine.clock.now

    def given(request_id: str) -> tuple[tuple[str, str], ...]:
        return ((request_ids.METADATA, request_id),)

    await engine.stub.StartSession(voice(msisdn, "c1", 1, now, requested=60), metadata=given("s1"))
    await engine.stub.EndSession(voice(msisdn, "c1", 2, now, used=30), metadata=given("s2"))
    await engine.stub.StartSession(voice(msisdn, "c2", 1, now, requested=60), metadata=given("s3"))
    await engine.stub.ChargeEvent(sms(msisdn, "e1", now), metadata=given("e1"))
    await engine.stub.ChargeEvent(sms(msisdn, "e1", now), metadata=given("retry"))  # a replay
    refund = pb.RefundRequest(
        subscriber=msisdn, refund_id="r1", original_event_id="e1", event_time=ts(now)
    )
    await engine.stub.Refund(refund, metadata=given("r1"))
    batch = pb.EventBatch(events=[sms(msisdn, "b1", now), sms(msisdn, "b2", now)])
    stream = engine.stub.ChargeEvents(metadata=given("stream-1"))
    await stream.write(batch)
    await stream.read()
    await stream.done_writing()
    assert await stream.read() == grpc.aio.EOF
    assert (request_ids.METADATA, "stream-1") in tuple(await stream.trailing_metadata())
    engine.clock.advance(400)  # past c2's validity and grace: the next debit releases it
    await engine.stub.ChargeEvent(sms(msisdn, "e2", engine.clock.now), metadata=given("e2"))
    records = {r["id"]: r.get("rq") for r in await engine.rated_records()}
    assert records == {
        "s:c1#2": "s2",  # a start reports no usage: no record
        "e:e1": "e1",  # the replay wrote none
        "r:r1": "r1",
        "e:b1": "stream-1",
        "e:b2": "stream-1",
        "s:c2#expired": None,  # released by the engine, not by a call
        "e:e2": "e2",
    }
