"""The notifier: thresholds crossed in the engine reach people by webhook, e-mail and SMS."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from tarif_common import signing
from tarif_notifications.store import Contact, list_notifications, put_contacts
from tests.integration.harness import Engine
from tests.integration.notifier_harness import SECRET, cross_threshold, eventually, running_batch
from tests.servers import http_sink, smtp_sink

MSISDN = "38640000101"


async def deliveries(pg: asyncpg.Pool) -> list[dict[str, Any]]:
    async with pg.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM notification_deliveries ORDER BY id")
    return [dict(r) for r in rows]


async def attempts(pg: asyncpg.Pool) -> list[tuple[int, str]]:
    async with pg.acquire() as conn:
        rows = await conn.fetch(
            "SELECT attempt, outcome FROM delivery_attempts ORDER BY delivery_id, attempt"
        )
    return [(r["attempt"], r["outcome"]) for r in rows]


def counted(app: Any, channel: str, outcome: str) -> float:
    value: float = app.metrics.deliveries.labels(channel, outcome)._value.get()
    return value


async def test_webhook_fails_twice_then_is_delivered_once_with_a_valid_signature(
    engine: Engine, pg: asyncpg.Pool, redis_url: str, database_url: str
) -> None:
    with http_sink() as sink:
        sink.answer = lambda n, r: 500 if n <= 2 else 200
        await cross_threshold(engine, "n1", MSISDN, "webhook")
        async with running_batch(
            redis_url, database_url, webhook_url=sink.url, webhook_secret=SECRET
        ) as app:
            await eventually(lambda: len(sink.accepted()) == 1)
            await eventually(lambda: counted(app, "webhook", "delivered") == 1)
            assert counted(app, "webhook", "failed") == 2
    assert [r.status for r in sink.received] == [500, 500, 200]
    assert len({r.headers["webhook-id"] for r in sink.received}) == 1  # one message, retried
    (accepted,) = sink.accepted()
    assert signing.verify(SECRET, accepted.headers, accepted.body)
    assert not signing.verify("whsec_b3RoZXI=", accepted.headers, accepted.body)
    body = accepted.json()
    assert body["type"] == "notification.threshold_crossed"
    data = body["data"]
    assert (data["subscriber"], data["account_id"], data["type"]) == (MSISDN, "n1", "credit_low")
    assert (data["threshold"], data["resource"], data["unit"]) == ("low", "EUR", "EUR")
    assert (data["threshold_value"], data["value"], data["direction"]) == (
        "0.20",
        "0.20",
        "falling",
    )
    (delivery,) = await deliveries(pg)
    assert (delivery["status"], delivery["attempts"], delivery["recipient"]) == (
        "delivered",
        3,
        sink.url,
    )
    assert await attempts(pg) == [(1, "failed"), (2, "failed"), (3, "delivered")]
    # the stream entry was moved into Postgres: acknowledged and gone from Redis
    total = sum(
        [await engine.redis.xlen(f"tarif:{{p{p}}}:notif") for p in range(engine.app.partitions)]
    )
    assert total == 0


async def test_email_reaches_a_real_smtp_server_with_the_right_text(
    engine: Engine, pg: asyncpg.Pool, redis_url: str, database_url: str
) -> None:
    async with pg.acquire() as conn:
        await put_contacts(
            conn,
            "n2",
            [Contact("billing", email="ana@example.com"), Contact("tech", phone="+38640999")],
        )
    with smtp_sink() as smtp:
        await cross_threshold(engine, "n2", MSISDN, "email")
        async with running_batch(
            redis_url, database_url, smtp_host="127.0.0.1", smtp_port=smtp.port
        ) as app:
            await eventually(lambda: counted(app, "email", "delivered") == 1)
    (message,) = smtp.messages
    assert smtp.envelopes == [("notifications@localhost", ["ana@example.com"])]
    assert message["To"] == "ana@example.com"
    assert message["Subject"] == "Your credit is running low: 0.20 EUR left"
    body = message.get_payload(decode=True).decode()
    assert f"The prepaid credit of {MSISDN} is down to 0.20 EUR (threshold 0.20 EUR)." in body
    assert message["Message-ID"].startswith("<tarif-delivery-")


async def test_sms_goes_through_the_http_gateway(
    engine: Engine, pg: asyncpg.Pool, redis_url: str, database_url: str
) -> None:
    async with pg.acquire() as conn:
        await put_contacts(conn, "n3", [Contact("primary", phone="+38640111999")])
    with http_sink() as gateway:
        await cross_threshold(engine, "n3", MSISDN, "sms")
        async with running_batch(
            redis_url,
            database_url,
            sms_gateway_url=gateway.url,
            sms_gateway_token="tok",
            sms_sender="Operator",
        ) as app:
            await eventually(lambda: counted(app, "sms", "delivered") == 1)
    (request,) = gateway.accepted()
    assert request.headers["authorization"] == "Bearer tok"
    sent = request.json()
    assert (sent["to"], sent["from"]) == ("+38640111999", "Operator")
    assert sent["text"] == f"Credit low: 0.20 EUR left on {MSISDN}. Top up to keep your service."
    assert sent["reference"] == request.headers["idempotency-key"]


async def test_a_channel_that_cannot_deliver_is_recorded_as_skipped(
    engine: Engine, pg: asyncpg.Pool, redis_url: str, database_url: str
) -> None:
    with smtp_sink() as smtp:
        await cross_threshold(engine, "n4", MSISDN, "email", "sms")  # no contacts, no gateway
        async with running_batch(
            redis_url, database_url, smtp_host="127.0.0.1", smtp_port=smtp.port
        ) as app:
            await eventually(lambda: counted(app, "sms", "skipped") == 1)
            assert counted(app, "email", "skipped") == 1
    assert smtp.messages == []
    found = {(d["channel"], d["status"], d["last_error"]) for d in await deliveries(pg)}
    assert found == {
        ("email", "skipped", "no email among the account's contacts"),
        ("sms", "skipped", "sms channel not configured"),
    }


async def test_after_the_last_attempt_a_delivery_is_dead_lettered(
    engine: Engine, pg: asyncpg.Pool, redis_url: str, database_url: str
) -> None:
    with http_sink() as sink:
        sink.answer = lambda n, r: 503
        await cross_threshold(engine, "n5", MSISDN, "webhook")
        async with running_batch(
            redis_url,
            database_url,
            webhook_url=sink.url,
            webhook_secret=SECRET,
            notify_max_attempts=3,
        ) as app:
            await eventually(lambda: counted(app, "webhook", "dead") == 1)
    assert len(sink.received) == 3
    (delivery,) = await deliveries(pg)
    assert (delivery["status"], delivery["attempts"]) == ("dead", 3)
    assert "HTTP 503" in delivery["last_error"]
    assert await attempts(pg) == [(1, "failed"), (2, "failed"), (3, "failed")]


async def test_notifications_are_listed_per_subscriber_with_their_deliveries(
    engine: Engine, pg: asyncpg.Pool, redis_url: str, database_url: str
) -> None:
    with http_sink() as sink:
        await cross_threshold(engine, "n6", MSISDN, "webhook", "sms")
        async with running_batch(
            redis_url, database_url, webhook_url=sink.url, webhook_secret=SECRET
        ) as app:
            await eventually(lambda: counted(app, "webhook", "delivered") == 1)
    async with pg.acquire() as conn:
        (item,) = await list_notifications(conn, subscriber=MSISDN)
        assert await list_notifications(conn, subscriber="38699999999") == []
        assert await list_notifications(conn, account_id="n6") == [item]
        assert await list_notifications(conn, subscriber=MSISDN, before_id=item["id"]) == []
    assert (item["type"], item["threshold"], item["resource"]) == ("credit_low", "low", "EUR")
    assert (item["threshold_value"], item["value"]) == ("0.20", "0.20")
    assert item["fired_at"].startswith("2026-11-18T10:59")
    statuses = [(d["channel"], d["status"], d["attempts"]) for d in item["deliveries"]]
    assert statuses == [("webhook", "delivered", 1), ("sms", "skipped", 0)]
    json.dumps(item)  # listable as JSON as it is


async def test_listing_needs_exactly_one_of_subscriber_or_account(pg: asyncpg.Pool) -> None:
    async with pg.acquire() as conn:
        with pytest.raises(ValueError, match="exactly one"):
            await list_notifications(conn)
