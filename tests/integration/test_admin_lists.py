"""Lists, search, sort, pages and CSV; the outbox repairing Redis; sync and reconciliation."""

from __future__ import annotations

import csv
import io

from admin_api import customers
from admin_api.auth import Principal, Role
from admin_api.outbox import Relay, reconcile
from admin_api.schemas import Onboarding
from tarif.charging.v1 import charging_pb2 as pb
from tarif_common import keys
from tests.integration.admin_harness import Admin, onboarding
from tests.integration.requests import sms

CITIES = ["Ljubljana", "Maribor", "Celje", "Koper"]


async def seed(admin: Admin, n: int = 40) -> None:
    rows = [
        (
            f"A{i}",
            "business" if i % 5 == 0 else "residential",
            f"First{i}",
            f"Last{i:02d}",
            f"user{i}@example.com",
            "+38640000000",
            f"Street {i}",
            CITIES[i % 4],
            "S",
            "SI" if i % 2 else "HR",
            "invoice" if i % 3 else "credit_card",
        )
        for i in range(n)
    ]
    async with admin.pool.acquire() as conn:
        await conn.executemany(
            """INSERT INTO customers (account_id, customer_type, first_name, last_name, email,
                   phone, address, city, state, country, payment_method)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
            rows,
        )


async def all_pages(admin: Admin, **params: object) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = (await admin.call("GET", "/v1/customers", "auditor", params=query)).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_filters_sort_and_pages_agree_with_the_data(admin: Admin) -> None:
    await seed(admin)
    everyone = await all_pages(admin, limit=7)
    assert [c["account_id"] for c in everyone] == [f"A{i}" for i in range(40)]
    maribor = await all_pages(admin, city="maribor", limit=3)
    assert [c["account_id"] for c in maribor] == [f"A{i}" for i in range(1, 40, 4)]
    business_si = await all_pages(admin, customer_type="business", country="SI")
    assert [c["account_id"] for c in business_si] == [f"A{i}" for i in (5, 15, 25, 35)]
    by_name = await all_pages(admin, sort="-last_name", limit=6)
    assert [c["account_id"] for c in by_name] == [f"A{i}" for i in range(39, -1, -1)]
    words = await all_pages(admin, q="user1 exam")  # prefixes of e-mail words
    assert sorted(c["account_id"] for c in words) == sorted(
        ["A1", *[f"A{i}" for i in range(10, 20)]]
    )
    prefix = await all_pages(admin, full_name="first3")
    assert sorted(c["account_id"] for c in prefix) == ["A3", *[f"A{i}" for i in range(30, 40)]]
    assert await all_pages(admin, email="USER7@") == [
        c for c in everyone if c["account_id"] == "A7"
    ]
    cards = await all_pages(admin, payment_method="credit_card", status="active")
    assert len(cards) == 14
    assert (cards[0]["subscriptions"], cards[0]["services"]) == (0, 0)
    oddities = await all_pages(admin, q="%_' OR 1=1 --")
    assert oddities == []


async def test_csv_export_matches_the_filters(admin: Admin) -> None:
    await seed(admin)
    response = await admin.call(
        "GET", "/v1/customers/export", "auditor", params={"country": "HR", "sort": "-created_at"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 20
    assert {r["country"] for r in rows} == {"HR"}
    assert rows[0]["account_id"] == "A38"
    assert rows[0]["email"] == "user38@example.com"
    assert rows[0]["phone"] == "'+38640000000"  # no spreadsheet formula from a leading +


async def test_a_crash_between_commit_and_redis_is_repaired_by_the_outbox(admin: Admin) -> None:
    who = Principal(0, "tk_test", Role.ADMIN)
    async with admin.pool.acquire() as conn:
        request = Onboarding.model_validate(onboarding("38640555010"))
        _, account_id, _ = await customers.onboard(
            conn, admin.engine.redis, who, request, creditor_id=""
        )
    # "crash": committed in Postgres, never written to Redis
    assert await admin.engine.redis.get(keys.locator(account_id)) is None
    differences = await reconcile(admin.pool, admin.engine.redis, admin.engine.app.partitions)
    assert {d["field"] for d in differences} >= {"st", "s:38640555010", "a:main"}
    assert await admin.relay.drain() == 1
    engine = admin.engine
    answer = await engine.stub.ChargeEvent(sms("38640555010", "after-repair", engine.clock.now))
    assert answer.result == pb.SUCCESS
    assert await reconcile(admin.pool, engine.redis, engine.app.partitions) == []


async def test_sync_rebuilds_redis_and_reconcile_reports_drift(admin: Admin) -> None:
    assert (
        await admin.call("POST", "/v1/customers", json=onboarding("38640555020"))
    ).status_code == 201
    redis = admin.engine.redis
    located = int(await redis.get(keys.locator("C1")))
    await redis.hset(keys.account(located, "C1"), "st", "suspended")  # drift
    (drift,) = await reconcile(admin.pool, redis, admin.engine.app.partitions)
    assert drift == {"account": "C1", "field": "st", "postgres": "active", "redis": "suspended"}
    await redis.flushdb()  # Redis lost everything
    relay = Relay(admin.pool, redis, admin.engine.app.partitions)
    assert await relay.sync_all() == {"accounts": 1, "groups": 0}
    await admin.engine.app.catalog.refresh()
    assert await reconcile(admin.pool, redis, admin.engine.app.partitions) == []
    engine = admin.engine
    answer = await engine.stub.ChargeEvent(sms("38640555020", "after-sync", engine.clock.now))
    assert answer.result == pb.SUCCESS


async def test_catalog_publishing_and_unrated_usage_through_the_api(admin: Admin) -> None:
    current = (await admin.call("GET", "/v1/catalog", "auditor")).json()
    document = current["document"]
    document["resources"]["GBP"] = {"kind": "money", "currency": "GBP", "decimals": 2}
    published = await admin.call("PUT", "/v1/catalog", json=document)
    assert published.status_code == 200, published.text
    assert published.json()["version"] == current["version"] + 1
    bad = await admin.call("PUT", "/v1/catalog", json={"resources": "nope"})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    versions = (await admin.call("GET", "/v1/catalog/versions")).json()["items"]
    assert [v["version"] for v in versions][:2] == [current["version"] + 1, current["version"]]
    # unratable usage: listed, corrected by an operator, re-rated once
    assert (
        await admin.call("POST", "/v1/customers", json=onboarding("38640555030"))
    ).status_code == 201
    engine = admin.engine
    stray = sms("38640555030", "cdr-api", engine.clock.now, service="texto")
    assert (await engine.stub.ChargeEvent(stray)).result == pb.RATING_FAILED
    await engine.ingest_unrated(admin.pool)
    (item,) = (await admin.call("GET", "/v1/unrated-events", "auditor")).json()["items"]
    path = f"/v1/unrated-events/{item['id']}"
    assert (await admin.call("PATCH", path, "auditor", json={"service": "sms"})).status_code == 403
    fixed = await admin.call("PATCH", path, "operator", json={"service": "sms"})
    assert fixed.json()["status"] == "corrected"
    first = (await admin.call("POST", f"{path}/rerate", "operator")).json()
    again = (await admin.call("POST", f"{path}/rerate", "operator")).json()
    assert (first["status"], first["cost"]) == ("rerated", "0.05")
    assert again == first
    assert await engine.balance("38640555030") == 995
