"""Dead notification deliveries: an alert and an activity-log entry when the notifier gives up,
the list of dead ones, a re-send (one, or in bulk by filters) that the notifier sends again, and
the refusals (not dead, a self-care mail, unknown)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.integration.admin_harness import Admin, onboarding
from tests.integration.notifier_harness import SECRET, cross_threshold, eventually, running_batch
from tests.servers import http_sink

MSISDN, OTHER = "38640555101", "38640555102"


async def status_of(admin: Admin, delivery_id: int) -> tuple[str, int]:
    row = await admin.pool.fetchrow(
        "SELECT status, attempts FROM notification_deliveries WHERE id = $1", delivery_id
    )
    return row["status"], row["attempts"]


async def test_a_dead_delivery_alerts_and_is_sent_again(
    admin: Admin, redis_url: str, database_url: str
) -> None:
    batch = {"webhook_secret": SECRET, "notify_max_attempts": 2}
    with http_sink() as sink:
        sink.answer = lambda n, r: 503
        await cross_threshold(admin.engine, "r1", MSISDN, "webhook")
        async with running_batch(redis_url, database_url, webhook_url=sink.url, **batch) as app:
            await eventually(
                lambda: app.metrics.deliveries.labels("webhook", "dead")._value.get() == 1
            )
        listed = await admin.call(
            "GET", "/v1/notification-deliveries", "auditor", params={"status": "dead"}
        )
        (dead,) = listed.json()["items"]
        assert (dead["channel"], dead["attempts"], dead["type"]) == ("webhook", 2, "credit_low")
        assert "HTTP 503" in dead["last_error"]
        alert = await admin.pool.fetchrow(
            "SELECT * FROM alerts WHERE alert_key = 'notifier.dead:webhook'"
        )
        assert (alert["object_type"], alert["object_id"]) == (
            "notification_delivery", str(dead["id"])
        )  # fmt: skip
        assert alert["acknowledged_at"] is None
        assert "dead after 2 attempts" in alert["message"]
        logged = await admin.pool.fetchval(
            "SELECT count(*) FROM activity_log WHERE process = 'notifier.delivery'"
            " AND object_id = $1",
            str(dead["id"]),
        )
        assert logged == 1

        path = f"/v1/notification-deliveries/{dead['id']}/resend"
        resent = await admin.call("POST", path, "operator")
        assert resent.status_code == 200, resent.text
        assert (resent.json()["status"], resent.json()["attempts"]) == ("pending", 2)
        again = await admin.call("POST", path, "operator")
        assert again.status_code == 409  # pending now, not dead
        entries = await admin.pool.fetch(
            "SELECT process, level, message FROM activity_log WHERE object_id = $1"
            " AND process = 'notifier.resend'",
            str(dead["id"]),
        )
        assert [(e["process"], e["level"]) for e in entries] == [("notifier.resend", "info")]
        audit = await admin.call(
            "GET", "/v1/audit-log", params={"object_type": "notification_delivery"}
        )
        assert [e["action"] for e in audit.json()["items"]] == ["notification_delivery.resend"]

        # the endpoint is fixed: the notifier sends it once more, with the same webhook-id
        sink.answer = lambda n, r: 200
        async with running_batch(redis_url, database_url, webhook_url=sink.url, **batch) as app:
            await eventually(
                lambda: app.metrics.deliveries.labels("webhook", "delivered")._value.get() == 1
            )
        assert await status_of(admin, dead["id"]) == ("delivered", 3)
        ids = {r.headers["webhook-id"] for r in sink.received}
        assert len(sink.received) == 3
        assert len(ids) == 1


async def test_dead_deliveries_are_sent_again_in_bulk_by_filter(
    admin: Admin, redis_url: str, database_url: str
) -> None:
    batch = {"webhook_secret": SECRET, "notify_max_attempts": 1}
    with http_sink() as sink:
        sink.answer = lambda n, r: 500
        await cross_threshold(admin.engine, "r2", MSISDN, "webhook")
        await cross_threshold(admin.engine, "r3", OTHER, "webhook")
        async with running_batch(redis_url, database_url, webhook_url=sink.url, **batch) as app:
            await eventually(
                lambda: app.metrics.deliveries.labels("webhook", "dead")._value.get() == 2
            )
    alert = await admin.pool.fetchrow(
        "SELECT occurrences FROM alerts WHERE alert_key = 'notifier.dead:webhook'"
    )
    assert alert["occurrences"] == 2  # one open alert per channel, counting
    # a dead self-care mail: its token is gone, it is never re-sent
    customer = (await admin.call("POST", "/v1/customers", json=onboarding("38640555103"))).json()
    async with admin.pool.acquire() as conn:
        mail = await conn.fetchval(
            "INSERT INTO selfcare_mails (customer_id, purpose, token, expires_at)"
            " VALUES ($1, 'verification', NULL, $2) RETURNING id",
            customer["id"],
            datetime.now(UTC) + timedelta(hours=1),
        )
        selfcare = await conn.fetchval(
            "INSERT INTO notification_deliveries (selfcare_mail_id, channel, recipient, status)"
            " VALUES ($1, 'email', 'a@example.com', 'dead') RETURNING id",
            mail,
        )
    dead = await admin.pool.fetch(
        "SELECT id FROM notification_deliveries WHERE status = 'dead' AND channel = 'webhook'"
        " ORDER BY id"
    )
    webhook_ids = [r["id"] for r in dead]
    assert len(webhook_ids) == 2

    one = await admin.call(
        "POST", "/v1/notification-deliveries/resend", "operator",
        json={"ids": [webhook_ids[0], selfcare], "channel": "webhook"},
    )  # fmt: skip
    assert one.json() == {"resent": [webhook_ids[0]]}
    rest = await admin.call("POST", "/v1/notification-deliveries/resend", json={})
    assert rest.json() == {"resent": [webhook_ids[1]]}  # the self-care mail stays dead
    assert await status_of(admin, selfcare) == ("dead", 0)
    refused = await admin.call("POST", f"/v1/notification-deliveries/{selfcare}/resend")
    assert refused.status_code == 409
    assert "self-care" in refused.json()["detail"]
    unknown = await admin.call("POST", "/v1/notification-deliveries/999999/resend")
    assert unknown.status_code == 404
    bad = await admin.call("POST", "/v1/notification-deliveries/resend", json={"channel": "pigeon"})
    assert bad.status_code == 422
    bad = await admin.call("POST", "/v1/notification-deliveries/resend", json={"limit": 0})
    assert bad.status_code == 422
    pending = await admin.call(
        "GET", "/v1/notification-deliveries", params={"status": "pending", "channel": "webhook"}
    )
    assert sorted(d["id"] for d in pending.json()["items"]) == webhook_ids
