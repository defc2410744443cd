"""Every list pages with `limit` and `cursor`: following `next_cursor` visits each item once,
in the list's order, and ends. The audit log by date range; customers found by the ids the
engine and the CLI show; list counts without what was cancelled."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.admin_harness import Admin, onboarding

Item = dict[str, Any]


async def walk(
    admin: Admin, path: str, limit: int, role: str = "auditor", **params: Any
) -> list[Item]:
    """Every item, following next_cursor; fails (rather than looping) when it never ends."""
    items: list[Item] = []
    cursor = None
    for _ in range(200):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await admin.call("GET", path, role, params=query)
        assert response.status_code == 200, (path, response.text)
        page = response.json()
        assert len(page["items"]) <= limit, path
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError(f"{path}: following next_cursor never ends")


async def pages_agree(admin: Admin, path: str, at_least: int = 3, role: str = "auditor") -> None:
    """Walked one and two at a time, the list is the one page of 500, each item once."""
    whole = await admin.call("GET", path, role, params={"limit": 500})
    assert whole.status_code == 200, (path, whole.text)
    everything = whole.json()
    assert everything["next_cursor"] is None, path
    assert len(everything["items"]) >= at_least, (path, everything["items"])
    for limit in (1, 2):
        walked = await walk(admin, path, limit, role)
        assert walked == everything["items"], (path, limit)
    distinct = {repr(sorted(item.items())) for item in everything["items"]}
    assert len(distinct) == len(everything["items"]), path


async def onboard(admin: Admin, msisdn: str, **changes: Any) -> Item:
    response = await admin.call("POST", "/v1/customers", json=onboarding(msisdn, **changes))
    assert response.status_code == 201, response.text
    customer: Item = response.json()
    return customer


async def test_following_next_cursor_of_notifications_visits_each_once_and_ends(
    admin: Admin,
) -> None:
    customer = await onboard(admin, "38640555201")
    now = datetime.now(UTC)
    async with admin.pool.acquire() as conn:
        await conn.executemany(
            """INSERT INTO notifications (account_id, source_id, subscriber, type, threshold_id,
                   resource, direction, threshold_level, value, decimals, unit, event_time,
                   fired_at)
               VALUES ($1, $2, '38640555201', 'low_balance', 't1', 'EUR', 'falling', 500, 499,
                   2, 'EUR', $3, $3)""",
            [(customer["account_id"], f"r{i}|t1", now + timedelta(seconds=i)) for i in range(5)],
        )
    path = f"/v1/customers/{customer['id']}/notifications"
    walked = await walk(admin, path, 2)
    ids = [n["id"] for n in walked]
    assert len(ids) == 5
    assert ids == sorted(set(ids), reverse=True)  # newest first, each once
    await pages_agree(admin, path, at_least=5)
    other = await admin.call("GET", path, params={"cursor": "garbage"})
    assert other.status_code == 422
    assert other.json()["field"] == "cursor"


async def test_every_list_of_a_customer_pages(admin: Admin) -> None:
    balances = [
        {"id": name, "resource": "EUR", "amount": "30.00"} for name in ("bonus", "extra", "main")
    ]
    customer = await onboard(
        admin,
        "38640555211",
        subscription__plan="smart",  # its bundle brings several products
        subscription__services=["38640555211", "38640555212", "38640555213"],
        subscription__balances=balances,
    )
    cid, sid = customer["id"], customer["subscriptions"][0]["id"]
    base = f"/v1/customers/{cid}"
    for i in range(3):
        adjusted = await admin.call(
            "POST",
            f"{base}/balances/main/adjustments",
            json={"request_id": f"adj-{i}", "amount": "0.10", "reason": "goodwill"},
        )
        assert adjusted.status_code == 200, adjusted.text
    for name in ("second", "third"):
        created = await admin.call(
            "POST", f"{base}/billing-profiles", json={"name": name, "currency": "EUR"}
        )
        assert created.status_code == 201, created.text
        group = await admin.call("POST", f"{base}/balance-groups", json={"name": name})
        assert group.status_code == 201, group.text
    later = datetime.now(UTC) + timedelta(days=30)
    async with admin.pool.acquire() as conn:
        await conn.executemany(
            """INSERT INTO plan_transitions (subscription_id, plan, effective_at, status,
                   requested_by) VALUES ($1, 'basic', $2, 'cancelled', 'test')""",
            [(sid, later + timedelta(days=i)) for i in range(3)],
        )
    await admin.relay.drain()

    for path in (
        f"{base}/services",
        f"{base}/adjustments",
        f"{base}/billing-profiles",
        f"{base}/balance-groups",
        f"{base}/plan-transitions",
        f"{base}/balances",
    ):
        await pages_agree(admin, path)
    await pages_agree(admin, f"{base}/subscriptions/{sid}/products")
    services = await walk(admin, f"{base}/services", 1)
    assert [s["identifier"] for s in services] == ["38640555211", "38640555212", "38640555213"]
    live = await walk(admin, f"{base}/balances", 1)
    ids = [b["id"] for b in live]  # the bundle's balances besides these three
    assert ids == sorted(set(ids))
    assert {"bonus", "extra", "main"} <= set(ids)


async def test_every_list_of_the_back_office_pages(admin: Admin) -> None:
    owners = [await onboard(admin, f"3864055522{i}") for i in range(3)]
    for i, owner in enumerate(owners):
        code = f"CODE{i}"
        voucher = {"code": code, "resource": "EUR", "amount": "1.00"}
        assert (await admin.call("POST", "/v1/vouchers", json=voucher)).status_code == 201
        coupon = {"code": code, "percent": "10"}
        created = await admin.call("POST", "/v1/coupons", json=coupon)
        assert created.status_code == 201, created.text
        key = await admin.call("POST", "/v1/api-keys", json={"role": "auditor", "name": code})
        assert key.status_code == 201, key.text
        hierarchy = {"id": f"h{i}", "owner_id": owner["id"]}
        made = await admin.call("POST", "/v1/hierarchy-groups", json=hierarchy)
        assert made.status_code == 201, made.text
        ledger = await admin.call("PUT", f"/v1/ledgers/L{i}", json={"account_code": f"70{i}"})
        assert ledger.status_code == 200, ledger.text
        policy = {"order": "own_first", "resources": {"EUR": {"cap": "0.10"}}}
        sharing = {"id": f"s{i}", "owner_id": owner["id"], "policy": policy}
        made = await admin.call("POST", "/v1/sharing-groups", json=sharing)
        assert made.status_code == 201, made.text
    document = (await admin.call("GET", "/v1/catalog")).json()["document"]
    for decimals in (3, 4):
        document["resources"]["GBP"] = {"kind": "money", "currency": "GBP", "decimals": decimals}
        assert (await admin.call("PUT", "/v1/catalog", json=document)).status_code == 200
    async with admin.pool.acquire() as conn:
        await conn.executemany(
            """INSERT INTO unrated_events (event_id, reason, subscriber, service, event_time,
                   units, kept_at) VALUES ($1, 'NO_RATE', '38640555220', 'texto', now(), 1,
                   now())""",
            [(f"stray-{i}",) for i in range(3)],
        )

    for path, role in (
        ("/v1/vouchers", "auditor"),
        ("/v1/coupons", "auditor"),
        ("/v1/api-keys", "admin"),
        ("/v1/hierarchy-groups", "auditor"),
        ("/v1/sharing-groups", "auditor"),
        ("/v1/ledgers", "auditor"),
        ("/v1/customer-types", "auditor"),
        ("/v1/catalog/versions", "auditor"),
        ("/v1/catalog/resources", "auditor"),
        ("/v1/audit-log", "auditor"),
        ("/v1/unrated-events", "auditor"),
        ("/v1/customers", "auditor"),
    ):
        await pages_agree(admin, path, at_least=2, role=role)
    codes = [v["code"] for v in await walk(admin, "/v1/vouchers", 1)]
    assert codes == ["CODE0", "CODE1", "CODE2"]
    # a cursor of one list is no cursor of another
    first = (await admin.call("GET", "/v1/vouchers", params={"limit": 1})).json()
    crossed = await admin.call("GET", "/v1/coupons", params={"cursor": first["next_cursor"]})
    assert crossed.status_code == 422
    assert crossed.json()["field"] == "cursor"


async def test_the_audit_log_filters_by_a_half_open_date_range(admin: Admin) -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    async with admin.pool.acquire() as conn:
        await conn.executemany(
            """INSERT INTO audit_log (at, actor, role, action, object_type, object_id)
               VALUES ($1, 'key:tk_test', 'admin', 'tax.put', $2, $3)""",
            [
                (start + timedelta(hours=h), "tax" if h % 2 else "ledger", f"o{h}")
                for h in range(10)
            ],
        )

    async def ids(**params: Any) -> list[str]:
        return [r["object_id"] for r in await walk(admin, "/v1/audit-log", 2, **params)]

    to = (start + timedelta(hours=6)).isoformat()
    assert await ids(**{"from": (start + timedelta(hours=2)).isoformat(), "to": to}) == [
        "o5", "o4", "o3", "o2",
    ]  # fmt: skip
    # [from, to): consecutive ranges split the log without a record twice or missing
    morning = await ids(**{"from": start.isoformat(), "to": to})
    after = await ids(**{"from": to, "to": (start + timedelta(hours=10)).isoformat()})
    assert after + morning == [f"o{h}" for h in range(9, -1, -1)]
    # with the other filters
    assert await ids(object_type="tax", **{"from": to}) == ["o9", "o7"]
    assert await ids(object_type="tax", **{"to": (start + timedelta(hours=3)).isoformat()}) == [
        "o1"
    ]
    backwards = await admin.call("GET", "/v1/audit-log", params={"from": to, "to": to})
    assert backwards.status_code == 422
    assert backwards.json()["field"] == "query.to"
    bad = await admin.call("GET", "/v1/audit-log", params={"from": "yesterday"})
    assert bad.status_code == 422


async def test_a_customer_is_found_by_engine_account_and_by_service(admin: Admin) -> None:
    ana = await onboard(admin, "38640555231", subscription__services=["38640555231", "38640555232"])
    bor = await onboard(admin, "38640555241")
    trial = await admin.call(
        "POST", f"/v1/customers/{bor['id']}/balance-groups",
        json={"name": "trial", "account_id": "acc-5001"},
    )  # fmt: skip
    assert trial.status_code == 201, trial.text

    async def found(**params: str) -> list[int]:
        return [c["id"] for c in await walk(admin, "/v1/customers", 5, **params)]

    assert await found(account_id=ana["account_id"]) == [ana["id"]]
    assert await found(account_id="acc-5001") == [bor["id"]]  # any of its balance groups
    assert await found(account_id="acc-5002") == []
    assert await found(service="38640555232") == [ana["id"]]
    assert await found(service="38640555241") == [bor["id"]]
    assert await found(service="3864055524") == []  # exact, not a prefix
    assert await found(service="38640555241", account_id=ana["account_id"]) == []
    assert await found(service="' OR 1=1 --") == []
    exported = await admin.call(
        "GET", "/v1/customers/export", "auditor", params={"service": "38640555231"}
    )
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [int(r["id"]) for r in rows] == [ana["id"]]


async def test_list_counts_leave_out_cancelled_subscriptions_and_their_services(
    admin: Admin,
) -> None:
    customer = await onboard(
        admin, "38640555251", subscription__services=["38640555251", "38640555252"]
    )
    cid = customer["id"]
    second = onboarding("38640555253")["subscription"] | {"balances": []}
    added = await admin.call("POST", f"/v1/customers/{cid}/subscriptions", json=second)
    assert added.status_code == 201, added.text

    async def counts() -> tuple[int, int]:
        (listed,) = (await admin.call("GET", "/v1/customers", params={"q": "ana"})).json()["items"]
        return listed["subscriptions"], listed["services"]

    assert await counts() == (2, 3)
    first = customer["subscriptions"][0]["id"]
    cancelled = await admin.call("POST", f"/v1/customers/{cid}/subscriptions/{first}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert await counts() == (1, 1)
    # still found by a cancelled subscription's service: the engine and the CLI show it
    by_line = await walk(admin, "/v1/customers", 5, service="38640555252")
    assert [c["id"] for c in by_line] == [cid]
    schema = (await admin.client.get("/openapi.json")).json()["components"]["schemas"]
    summary = schema["CustomerSummary"]["properties"]
    assert "cancelled" in summary["subscriptions"]["description"]
    assert "cancelled" in summary["services"]["description"]
