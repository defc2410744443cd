"""Usage in the admin API: rated records of a period, CSV, and an event's amount lowered."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta

from billing_batch.rated import RatedIngest
from billing_batch.streams import StreamIngestor
from tarif_common import keys
from tests.integration.admin_harness import Admin, onboarding
from tests.integration.requests import sms

MSISDN = "38640555400"


async def ingest(admin: Admin) -> int:
    engine = admin.engine
    ingestor = StreamIngestor(
        engine.redis,
        "rated",
        [keys.rated_stream(p) for p in range(engine.app.partitions)],
        RatedIngest(admin.pool),  # records carry their decimals: no catalog
        consumer="test",
        block_ms=10,
    )
    await ingestor.prepare()
    return await ingestor.step()


async def test_usage_of_a_period_pages_csv_and_an_adjusted_amount(admin: Admin) -> None:
    customer = (await admin.call("POST", "/v1/customers", json=onboarding(MSISDN))).json()
    base = f"/v1/customers/{customer['id']}/usage"
    engine = admin.engine
    t0 = engine.clock.now - 4 * 3600
    for i in range(5):
        await engine.stub.ChargeEvent(sms(MSISDN, f"u{i}", t0 + i * 3600))
    assert await ingest(admin) == 5
    everything = []
    cursor = None
    while True:
        page = (
            await admin.call(
                "GET",
                base,
                "auditor",
                params={"limit": 2, **({"cursor": cursor} if cursor else {})},
            )
        ).json()
        everything += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [u["request_id"] for u in everything] == [f"e:u{i}" for i in range(5)]
    assert everything[0]["cost"] == "0.05"
    start = datetime.fromtimestamp(t0 + 3600, UTC)
    period = {"from": start.isoformat(), "to": (start + timedelta(hours=2)).isoformat()}
    window = (await admin.call("GET", base, params=period)).json()["items"]
    assert [u["request_id"] for u in window] == ["e:u1", "e:u2"]
    exported = await admin.call("GET", f"{base}/export", params=period)
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["request_id"], r["cost"], r["attributes"]) for r in rows] == [
        ("e:u1", "0.05", '{"destination": "38641000000"}'),
        ("e:u2", "0.05", '{"destination": "38641000000"}'),
    ]
    backwards = {"from": period["to"], "to": period["from"]}
    assert (await admin.call("GET", base, params=backwards)).status_code == 422

    engine.clock.now = time.time()  # the API refunds at the real time
    lower = {"event_id": "e:u0", "amount": "0.02", "request_id": "fix-u0", "reason": "promo"}
    done = await admin.call("POST", f"{base}/adjustments", "operator", json=lower)
    assert done.status_code == 200, done.text
    assert (done.json()["result"], done.json()["refunded"]) == ("SUCCESS", "0.03")
    assert await engine.balance(MSISDN) == 1000 - 25 + 3
    await ingest(admin)
    again = await admin.call("POST", f"{base}/adjustments", "operator", json=lower)
    assert (again.json()["result"], again.json()["refunded"]) == ("SUCCESS", "0.03")
    assert await engine.balance(MSISDN) == 978  # once
    higher = {**lower, "request_id": "fix-u0-b", "amount": "0.05"}
    assert (
        await admin.call("POST", f"{base}/adjustments", "operator", json=higher)
    ).status_code == 409
    unknown = {**lower, "event_id": "e:nope", "request_id": "x"}
    assert (
        await admin.call("POST", f"{base}/adjustments", "operator", json=unknown)
    ).status_code == 404
    session = {**lower, "event_id": "s:abc#1", "request_id": "y"}
    assert (
        await admin.call("POST", f"{base}/adjustments", "operator", json=session)
    ).status_code == 422
    assert (
        await admin.call("POST", f"{base}/adjustments", "auditor", json=lower)
    ).status_code == 403
    kinds = [u["kind"] for u in (await admin.call("GET", base)).json()["items"]]
    assert kinds.count("refund") == 1
