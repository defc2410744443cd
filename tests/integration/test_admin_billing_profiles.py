"""Billing profiles: the default one from onboarding, more added, changed within the rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.integration.admin_harness import Admin, onboarding

DEMO_ZONE = ZoneInfo("Europe/Ljubljana")  # the demo catalog's time zone


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def month_start(year: int, month: int, day: int = 1) -> datetime:
    """Local midnight of that day in the demo catalog's zone, as an aware datetime."""
    return datetime(year, month, day, tzinfo=DEMO_ZONE)


async def test_billing_profiles(admin: Admin) -> None:
    customer = (await admin.call("POST", "/v1/customers", json=onboarding("38640558001"))).json()
    path = f"/v1/customers/{customer['id']}/billing-profiles"
    (default,) = (await admin.call("GET", path, "auditor")).json()["items"]
    assert (default["name"], default["interval"], default["billing_day"]) == (
        "default",
        "monthly",
        1,
    )
    assert (default["pending_total"], default["credit_balance"]) == ("0", "0")
    assert customer["subscriptions"][0]["billing_profile_id"] == default["id"]
    business = {"name": "company", "currency": "EUR", "interval": "quarterly", "billing_day": 15}
    created = await admin.call("POST", path, json=business)
    assert created.status_code == 201, created.text
    assert (await admin.call("POST", path, json=business)).status_code == 409
    assert (
        await admin.call("POST", path, json={**business, "name": "x", "currency": "voice_seconds"})
    ).status_code == 422
    assert (
        await admin.call("POST", path, json={**business, "name": "y", "billing_day": 32})
    ).status_code == 422
    changed = await admin.call("PATCH", f"{path}/{default['id']}", json={"billing_day": 10})
    assert changed.json()["billing_day"] == 10
    window = {"valid_from": "2027-02-01T00:00:00Z", "valid_to": "2027-01-01T00:00:00Z"}
    assert (await admin.call("PATCH", f"{path}/{default['id']}", json=window)).status_code == 422
    assert (await admin.call("PATCH", f"{path}/999", json={"billing_day": 2})).status_code == 404
    cleared = await admin.call("PATCH", f"{path}/{default['id']}", json={"billing_day": None})
    assert (cleared.status_code, cleared.json()["field"]) == (422, "body.billing_day")
    assert (
        await admin.call("PATCH", f"{path}/{default['id']}", "operator", json={"billing_day": 2})
    ).status_code == 403
    names = [p["name"] for p in (await admin.call("GET", path)).json()["items"]]
    assert names == ["default", "company"]


async def test_a_profile_shows_its_cycle_rule_and_the_cycle_in_progress(admin: Admin) -> None:
    customer = (await admin.call("POST", "/v1/customers", json=onboarding("38640558002"))).json()
    path = f"/v1/customers/{customer['id']}/billing-profiles"
    (default,) = (await admin.call("GET", path, "auditor")).json()["items"]
    # onboarding: monthly on day 1 in the catalog's time zone
    assert (default["time_zone"], default["anchor_month"]) == ("Europe/Ljubljana", 1)
    now = datetime.now(DEMO_ZONE)
    this = month_start(now.year, now.month)
    following = month_start(now.year + now.month // 12, now.month % 12 + 1)
    assert (utc(default["cycle_start"]), utc(default["cycle_end"])) == (this, following)

    yearly = {"name": "yearly", "currency": "EUR", "interval": "yearly", "billing_day": 31,
              "anchor_month": 2, "time_zone": "America/New_York"}  # fmt: skip
    created = await admin.call("POST", path, json=yearly)
    assert created.status_code == 201, created.text
    got = created.json()
    assert {k: got[k] for k in yearly} == yearly
    start, end = utc(got["cycle_start"]), utc(got["cycle_end"])
    assert start <= datetime.now(UTC) < end
    # day 31 of February: its last day, at midnight in New York
    local_start = start.astimezone(ZoneInfo("America/New_York"))
    assert (local_start.month, local_start.hour, local_start.minute) == (2, 0, 0)
    assert local_start.day in (28, 29)
    assert end.astimezone(ZoneInfo("America/New_York")).year == local_start.year + 1

    weekly = await admin.call("PATCH", f"{path}/{got['id']}", json={"interval": "weekly"})
    assert (weekly.status_code, weekly.json()["field"]) == (422, "body.billing_day")  # day 31
    weekly = await admin.call(
        "PATCH", f"{path}/{got['id']}", json={"interval": "weekly", "billing_day": 7}
    )
    assert weekly.status_code == 200, weekly.text
    sunday = utc(weekly.json()["cycle_start"]).astimezone(ZoneInfo("America/New_York"))
    assert (sunday.isoweekday(), sunday.hour) == (7, 0)
    length = utc(weekly.json()["cycle_end"]) - utc(weekly.json()["cycle_start"])
    assert abs(length - timedelta(days=7)) <= timedelta(hours=1)  # an hour off across DST

    bad: list[tuple[dict[str, Any], str]] = [
        ({"name": "w", "interval": "weekly", "billing_day": 31}, "body.billing_day"),
        ({"name": "z", "time_zone": "Mars/Olympus"}, "body.time_zone"),
        ({"name": "a", "anchor_month": 13}, "body.anchor_month"),
    ]
    for body, field in bad:
        refused = await admin.call("POST", path, json={"currency": "EUR"} | body)
        assert (refused.status_code, refused.json()["field"]) == (422, field), refused.text
    cleared = await admin.call("PATCH", f"{path}/{got['id']}", json={"time_zone": None})
    assert (cleared.status_code, cleared.json()["field"]) == (422, "body.time_zone")


async def test_subscriptions_are_billed_on_their_groups_profile(admin: Admin) -> None:
    customer = (await admin.call("POST", "/v1/customers", json=onboarding("38640558003"))).json()
    cid = customer["id"]
    path = f"/v1/customers/{cid}/billing-profiles"
    (default,) = (await admin.call("GET", path)).json()["items"]
    more = {"plan": "basic", "currency": "EUR", "services": ["38640558103"]}

    # a cycle of its own that is not its group's profile's is refused, naming the fields
    own = await admin.call(
        "POST", f"/v1/customers/{cid}/subscriptions",
        json=more | {"interval": "yearly", "billing_day": 15},
    )  # fmt: skip
    assert own.status_code == 422, own.text
    assert own.json()["field"] == "body.interval"
    assert "interval and billing_day" in own.json()["detail"]
    day = await admin.call(
        "POST", f"/v1/customers/{cid}/subscriptions", json=more | {"billing_day": 2}
    )
    assert (day.status_code, day.json()["field"]) == (422, "body.billing_day")
    assert await admin.count("subscriptions") == 1

    # the same cycle, or none, is accepted: the subscription shows its profile's
    same = await admin.call(
        "POST", f"/v1/customers/{cid}/subscriptions",
        json=more | {"interval": "monthly", "billing_day": 1},
    )  # fmt: skip
    assert same.status_code == 201, same.text
    assert (same.json()["interval"], same.json()["billing_day"]) == ("monthly", 1)
    assert same.json()["billing_profile_id"] == default["id"]

    # changing the profile's day moves every subscription billed on it
    changed = await admin.call("PATCH", f"{path}/{default['id']}", json={"billing_day": 31})
    assert changed.status_code == 200, changed.text
    subs = (await admin.call("GET", f"/v1/customers/{cid}")).json()["subscriptions"]
    assert [(s["interval"], s["billing_day"]) for s in subs] == [("monthly", 31)] * 2

    # moving the balance group to another profile moves its subscriptions with it
    weekly = {"name": "weekly", "currency": "EUR", "interval": "weekly", "billing_day": 3}
    other = (await admin.call("POST", path, json=weekly)).json()
    moved = await admin.call(
        "PATCH", f"/v1/customers/{cid}/balance-groups/main",
        json={"billing_profile_id": other["id"]},
    )  # fmt: skip
    assert moved.status_code == 200, moved.text
    subs = (await admin.call("GET", f"/v1/customers/{cid}")).json()["subscriptions"]
    assert [(s["billing_profile_id"], s["interval"], s["billing_day"]) for s in subs] == [
        (other["id"], "weekly", 3)
    ] * 2
