"""The collections endpoints and `tarif reminders`: terms and levels, automations and their
actions (moved up and down), Start, reminders listed, read and cancelled, invoices on hold; bad
input refused with a clear 4xx and nothing written."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.admin_harness import Admin
from tests.integration.collections_harness import (
    collections_run,
    counts,
    customers_with_invoices,
    deployment,
)
from tests.integration.test_cli_output import Run, tarif  # noqa: F401 (the fixture)

AT = datetime(2027, 1, 4, 9, tzinfo=UTC)


async def ok(admin: Admin, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    answer = await admin.call(method, path, json=body)
    assert answer.status_code == status, (method, path, answer.text)
    return answer.json() if answer.content else None


async def make_terms(admin: Admin, code: str = "STD", levels: int = 2) -> dict[str, Any]:
    await ok(admin, "POST", "/v1/reminder-terms", {"code": code, "max_reminders": 3}, 201)
    terms: dict[str, Any] = {}
    for n in range(1, levels + 1):
        body = {"grace_period": f"{n}D", "due_date_formula": "7D",
                "texts": [{"language": "en", "subject": f"Level {n}"}]}  # fmt: skip
        terms = await ok(admin, "PUT", f"/v1/reminder-terms/{code}/levels/{n}", body)
    return terms


ACTIONS = [{"kind": "create"}, {"kind": "issue"}, {"kind": "send"}]


async def test_terms_levels_automations_and_actions(admin: Admin) -> None:
    terms = await make_terms(admin)
    assert [
        (lv["level"], lv["grace_period"], lv["texts"][0]["subject"]) for lv in terms["levels"]
    ] == [
        (1, "1D", "Level 1"),
        (2, "2D", "Level 2"),
    ]
    terms = await ok(admin, "PATCH", "/v1/reminder-terms/STD", {"description": "standard"})
    assert (terms["description"], terms["max_reminders"]) == ("standard", 3)
    listed = await ok(admin, "GET", "/v1/reminder-terms")
    assert [t["code"] for t in listed["items"]] == ["STD"]
    terms = await ok(admin, "DELETE", "/v1/reminder-terms/STD/levels/2")
    assert [lv["level"] for lv in terms["levels"]] == [1]

    body = {
        "name": "weekly",
        "terms": ["STD"],
        "criteria": {"customer_types": ["residential"]},
        "cadence": {"kind": "weekly", "starts_at": "2027-01-01T08:00:00+01:00",
                    "time_zone": "Europe/Paris"},
        "actions": ACTIONS,
    }  # fmt: skip
    automation = await ok(admin, "POST", "/v1/reminder-automations", body, 201)
    aid = automation["id"]
    assert automation["next_run_at"] == "2027-01-01T07:00:00Z"
    assert automation["terms"] == ["STD"]
    kinds = [(a["position"], a["kind"]) for a in automation["actions"]]
    assert kinds == [(1, "create"), (2, "issue"), (3, "send")]
    assert automation["actions"][2]["options"] == {
        "criteria": automation["actions"][2]["options"]["criteria"],
        "attach": "overdue",
        "max_sends": 1,
        "resend_after": "7D",
    }
    first, second, third = (a["id"] for a in automation["actions"])
    moved = await ok(admin, "POST", f"/v1/reminder-automations/{aid}/actions/{first}/move-down")
    assert [a["id"] for a in moved["actions"]] == [second, first, third]
    moved = await ok(admin, "POST", f"/v1/reminder-automations/{aid}/actions/{third}/move-up")
    assert [a["id"] for a in moved["actions"]] == [second, third, first]
    assert [a["position"] for a in moved["actions"]] == [1, 2, 3]
    for edge, way in ((second, "up"), (first, "down")):
        answer = await admin.call(
            "POST", f"/v1/reminder-automations/{aid}/actions/{edge}/move-{way}"
        )
        assert answer.status_code == 409, answer.text
    changed = await ok(
        admin, "PATCH", f"/v1/reminder-automations/{aid}/actions/{third}",
        {"options": {"attach": "all", "max_sends": 2}, "stop_on_error": True},
    )  # fmt: skip
    send = next(a for a in changed["actions"] if a["id"] == third)
    assert (send["options"]["attach"], send["options"]["max_sends"], send["stop_on_error"]) == (
        "all", 2, True,
    )  # fmt: skip
    left = await ok(admin, "DELETE", f"/v1/reminder-automations/{aid}/actions/{third}")
    assert [(a["id"], a["position"]) for a in left["actions"]] == [(second, 1), (first, 2)]
    added = await ok(
        admin, "POST", f"/v1/reminder-automations/{aid}/actions", {"kind": "send"}, 201
    )
    assert [a["kind"] for a in added["actions"]] == ["issue", "create", "send"]

    paused = await ok(
        admin, "PATCH", f"/v1/reminder-automations/{aid}",
        {"active": False, "cadence": {"kind": "custom", "formula": "cm+5d",
                                      "starts_at": "2027-02-05T08:00:00Z"}},
    )  # fmt: skip
    assert (paused["active"], paused["cadence"]["formula"], paused["next_run_at"]) == (
        False, "CM+5D", "2027-02-05T08:00:00Z",
    )  # fmt: skip
    listed = await ok(admin, "GET", "/v1/reminder-automations")
    assert [a["name"] for a in listed["items"]] == ["weekly"]
    answer = await admin.call("DELETE", "/v1/reminder-terms/STD")
    assert answer.status_code == 409  # the automation uses it
    await ok(admin, "DELETE", f"/v1/reminder-automations/{aid}", status=204)
    await ok(admin, "DELETE", "/v1/reminder-terms/STD", status=204)
    async with admin.pool.acquire() as conn:
        actions = await conn.fetch("SELECT DISTINCT action FROM audit_log ORDER BY 1")
    assert {r["action"] for r in actions} >= {
        "reminder_terms.create", "reminder_level.put", "reminder_level.delete",
        "reminder_automation.create", "reminder_action.move_up", "reminder_action.move_down",
        "reminder_action.update", "reminder_action.delete", "reminder_action.create",
        "reminder_automation.update", "reminder_automation.delete", "reminder_terms.delete",
    }  # fmt: skip


async def test_start_queues_a_run_and_production_refuses_a_process_now(admin: Admin) -> None:
    await make_terms(admin)
    body = {"name": "by hand", "cadence": {"kind": "manual"}, "actions": ACTIONS}
    aid = (await ok(admin, "POST", "/v1/reminder-automations", body, 201))["id"]

    before = await counts(admin)
    settings = admin.app.state.settings
    admin.app.state.settings = settings.model_copy(update={"environment": "production"})
    refused = await admin.call(
        "POST", f"/v1/reminder-automations/{aid}/start", role="operator",
        json={"process_now": AT.isoformat()},
    )  # fmt: skip
    assert refused.status_code == 403, refused.text
    assert "production" in refused.json()["title"]
    assert await counts(admin) == before

    started = await admin.call(
        "POST", f"/v1/reminder-automations/{aid}/start", role="operator", json={}
    )
    assert started.status_code == 202, started.text
    run = started.json()
    async with admin.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM job_runs WHERE id = $1", run["job_run_id"])
        queued = await conn.fetchval(
            "SELECT count(*) FROM pgqueuer WHERE entrypoint = 'tarif_job_run' AND payload = $1",
            str(run["job_run_id"]).encode(),
        )
    assert (row["job_type"], row["trigger"], row["status"]) == ("collections", "manual", "queued")
    assert row["criteria"] == {"automations": [aid], "start": True}
    assert queued == 1

    admin.app.state.settings = deployment(None)  # a test deployment takes a process-now date
    started = await admin.call(
        "POST", f"/v1/reminder-automations/{aid}/start", role="operator",
        json={"process_now": AT.isoformat()},
    )  # fmt: skip
    assert started.status_code == 202, started.text
    assert started.json()["process_now"] == "2027-01-04T09:00:00Z"


async def test_reminders_listed_read_cancelled_and_invoices_on_hold(admin: Admin) -> None:
    first, second = await customers_with_invoices(admin, "38640910001", "38640910002")
    await make_terms(admin)
    for billed in (first, second):
        answer = await ok(
            admin, "PUT", f"/v1/billing-profiles/{billed.profile_id}/reminder-terms",
            {"terms": "STD", "language": "fr"},
        )  # fmt: skip
        assert answer == {"billing_profile_id": billed.profile_id, "terms": "STD", "language": "fr"}
    async with admin.pool.acquire() as conn:
        held_invoice = await conn.fetchval(
            "SELECT id FROM invoices WHERE billing_profile_id = $1", second.profile_id
        )
    hold = await admin.call(
        "PUT", f"/v1/invoices/{held_invoice}/reminder-hold", role="operator",
        json={"reason": "disputed"},
    )  # fmt: skip
    assert hold.status_code == 200, hold.text
    assert hold.json()["reason"] == "disputed"
    body = {"name": "create only", "cadence": {"kind": "manual"}, "actions": [{"kind": "create"}]}
    aid = (await ok(admin, "POST", "/v1/reminder-automations", body, 201))["id"]
    start = {"automations": [aid], "start": True}
    await collections_run(admin, deployment(None), AT, start)

    drafts = await ok(admin, "GET", "/v1/reminders?status=draft")
    assert [r["customer_id"] for r in drafts["items"]] == [first.customer_id]  # on hold: left out
    reminder = await ok(admin, "GET", f"/v1/reminders/{drafts['items'][0]['id']}")
    assert (reminder["level"], reminder["status"], reminder["document_date"]) == (
        1, "draft", "2027-01-04",
    )  # fmt: skip
    assert [(x["number"], x["kind"], x["level"], x["amount_due"]) for x in reminder["lines"]] == [
        ("INV-000001", "overdue", 1, "12.20")
    ]
    assert (await ok(admin, "GET", "/v1/reminders?level=2"))["items"] == []
    assert (await ok(admin, "GET", f"/v1/reminders?customer_id={second.customer_id}"))[
        "items"
    ] == []

    # the hold included: the second customer is reminded too (its line says it is on hold)
    automation = await ok(admin, "GET", f"/v1/reminder-automations/{aid}")
    create = automation["actions"][0]["id"]
    await ok(
        admin, "PATCH", f"/v1/reminder-automations/{aid}/actions/{create}",
        {"options": {"include_on_hold": True}},
    )  # fmt: skip
    await collections_run(admin, deployment(None), AT, start)
    held = await ok(admin, "GET", f"/v1/reminders?customer_id={second.customer_id}")
    (held_reminder,) = held["items"]
    lines = (await ok(admin, "GET", f"/v1/reminders/{held_reminder['id']}"))["lines"]
    assert [x["on_hold"] for x in lines] == [True]
    assert len((await ok(admin, "GET", "/v1/reminders?status=draft"))["items"]) == 2

    cancelled = await admin.call(
        "POST", f"/v1/reminders/{held_reminder['id']}/cancel", role="operator"
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    again = await admin.call("POST", f"/v1/reminders/{held_reminder['id']}/cancel", role="operator")
    assert again.status_code == 409
    released = await admin.call(
        "DELETE", f"/v1/invoices/{held_invoice}/reminder-hold", role="operator"
    )
    assert released.status_code == 204
    gone = await admin.call("DELETE", f"/v1/invoices/{held_invoice}/reminder-hold", role="operator")
    assert gone.status_code == 404


BAD: list[tuple[str, str, Any, int, str]] = [
    ("POST", "/v1/reminder-terms", {"code": "bad code"}, 422, "body.code"),
    ("POST", "/v1/reminder-terms", {"code": "STD"}, 409, ""),
    ("PATCH", "/v1/reminder-terms/STD", {"max_reminders": 0}, 422, "body.max_reminders"),
    ("PUT", "/v1/reminder-terms/STD/levels/4", {}, 422, "path.level"),
    ("PUT", "/v1/reminder-terms/NOPE/levels/1", {}, 404, ""),
    ("PUT", "/v1/reminder-terms/STD/levels/1", {"grace_period": "5X"}, 422, "body.grace_period"),
    ("PUT", "/v1/reminder-terms/STD/levels/1", {"grace_period": "1M1D"}, 422, "body.grace_period"),
    ("PUT", "/v1/reminder-terms/STD/levels/1", {"due_date_formula": "-1D"}, 422,
     "body.due_date_formula"),
    ("PUT", "/v1/reminder-terms/STD/levels/1", {"fee_amount": "5.00"}, 422, "body"),
    ("PUT", "/v1/reminder-terms/STD/levels/1", {"fee_amount": "-1"}, 422, "body.fee_amount"),
    ("PUT", "/v1/reminder-terms/STD/levels/1",
     {"fee_amount": "1", "fee_currency": "EUR", "fee_tax": "NOPE"}, 422, "body.fee_tax"),
    ("PUT", "/v1/reminder-terms/STD/levels/1",
     {"texts": [{"language": "en", "subject": "{{ reminder.totl }}"}]}, 422, "body.texts.0"),
    ("PUT", "/v1/reminder-terms/STD/levels/1",
     {"texts": [{"language": "en", "subject": "{% if %}"}]}, 422, "body.texts.0"),
    ("PUT", "/v1/reminder-terms/STD/levels/1",
     {"texts": [{"language": "en", "subject": "a"}, {"language": "en", "subject": "b"}]}, 422,
     "body"),
    ("DELETE", "/v1/reminder-terms/STD/levels/1", None, 409, ""),
    ("DELETE", "/v1/reminder-terms/STD", None, 409, ""),
    ("POST", "/v1/reminder-automations",
     {"name": "x", "terms": ["NOPE"], "cadence": {"kind": "manual"}}, 422, "body.terms"),
    ("POST", "/v1/reminder-automations",
     {"name": "x", "cadence": {"kind": "custom", "formula": "CM",
                               "starts_at": "2027-01-01T00:00:00Z"}}, 422, "body.cadence"),
    ("POST", "/v1/reminder-automations",
     {"name": "x", "cadence": {"kind": "custom", "formula": "1M1D",
                               "starts_at": "2027-01-01T00:00:00Z"}}, 422, "body.cadence"),
    ("POST", "/v1/reminder-automations", {"name": "x", "cadence": {"kind": "weekly"}}, 422,
     "body.cadence"),
    ("POST", "/v1/reminder-automations",
     {"name": "x", "cadence": {"kind": "weekly", "starts_at": "2027-01-01T00:00:00Z",
                               "time_zone": "Mars/Olympus"}}, 422, "body.cadence"),
    ("POST", "/v1/reminder-automations",
     {"name": "x", "cadence": {"kind": "manual"}, "criteria": {"customer_types": ["alien"]}},
     422, "body.criteria.customer_types"),
    ("POST", "/v1/reminder-automations",
     {"name": "x", "cadence": {"kind": "manual"}, "actions": [{"kind": "dance"}]}, 422,
     "body.actions.0.kind"),
    ("POST", "/v1/reminder-automations",
     {"name": "x", "cadence": {"kind": "manual"},
      "actions": [{"kind": "create", "options": {"bogus": True}}]}, 422, "body.actions.0"),
    ("POST", "/v1/reminder-automations",
     {"name": "x", "cadence": {"kind": "manual"},
      "actions": [{"kind": "send", "options": {"max_sends": 0}}]}, 422, "body.actions.0"),
    ("POST", "/v1/reminder-automations",
     {"name": "x", "cadence": {"kind": "manual"},
      "actions": [{"kind": "send", "options": {"resend_after": "0D"}}]}, 422, "body.actions.0"),
    ("POST", "/v1/reminder-automations",
     {"name": "x", "cadence": {"kind": "manual"},
      "actions": [{"kind": "create", "options": {"criteria": {"attributes": {"vip": True}}}}]},
     422, "body.actions.0.options.criteria.attributes"),
    ("POST", "/v1/reminder-automations", {"name": "taken", "cadence": {"kind": "manual"}}, 409,
     ""),
    ("PATCH", "/v1/reminder-automations/{aid}", {"terms": ["NOPE"]}, 422, "body.terms"),
    ("PATCH", "/v1/reminder-automations/{aid}/actions/{action}",
     {"options": {"attach": "some"}}, 422, "body.options"),
    ("POST", "/v1/reminder-automations/{aid}/actions/{action}/move-up", None, 409, ""),
    ("POST", "/v1/reminder-automations/999/start", {}, 404, ""),
    ("POST", "/v1/reminder-automations/{aid}/start", {"process_now": "2027-01-04T09:00:00"}, 422,
     "body.process_now"),
    ("PUT", "/v1/billing-profiles/{profile}/reminder-terms", {"terms": "NOPE"}, 422,
     "body.terms"),
    ("PUT", "/v1/billing-profiles/{profile}/reminder-terms", {"terms": "STD", "language": "French"},
     422, "body.language"),
    ("PUT", "/v1/billing-profiles/999999/reminder-terms", {"terms": None}, 404, ""),
    ("PUT", "/v1/invoices/999999/reminder-hold", {"reason": "x"}, 404, ""),
    ("PUT", "/v1/invoices/{invoice}/reminder-hold", {"reason": ""}, 422, "body.reason"),
    ("POST", "/v1/reminders/999999/cancel", None, 404, ""),
    ("GET", "/v1/reminders?status=lost", None, 422, "query.status"),
]  # fmt: skip


async def test_bad_input_is_refused_and_writes_nothing(admin: Admin) -> None:
    (billed,) = await customers_with_invoices(admin, "38640910011")
    await make_terms(admin)
    await ok(
        admin, "PUT", f"/v1/billing-profiles/{billed.profile_id}/reminder-terms", {"terms": "STD"}
    )
    body = {"name": "taken", "terms": ["STD"], "cadence": {"kind": "manual"}, "actions": ACTIONS}
    automation = await ok(admin, "POST", "/v1/reminder-automations", body, 201)
    async with admin.pool.acquire() as conn:
        invoice = await conn.fetchval("SELECT id FROM invoices")
    values = {
        "aid": automation["id"],
        "action": automation["actions"][0]["id"],
        "profile": billed.profile_id,
        "invoice": invoice,
    }
    before = await counts(admin)
    for method, path, payload, status, field in BAD:
        answer = await admin.call(method, path.format(**values), json=payload, role="admin")
        assert answer.status_code == status, (method, path, payload, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        if field:
            assert (answer.json().get("field") or "").startswith(field), (path, answer.json())
        assert await counts(admin) == before, (method, path, payload)


async def test_cli_lists_reminders_and_starts_an_automation(
    admin: Admin,
    tarif: Run,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (billed,) = await customers_with_invoices(admin, "38640910021")
    await make_terms(admin)
    await ok(
        admin, "PUT", f"/v1/billing-profiles/{billed.profile_id}/reminder-terms", {"terms": "STD"}
    )
    body = {"name": "cli", "cadence": {"kind": "manual"}, "actions": [{"kind": "create"}]}
    aid = (await ok(admin, "POST", "/v1/reminder-automations", body, 201))["id"]
    await collections_run(admin, deployment(None), AT, {"automations": [aid], "start": True})

    code, out, _ = await tarif("reminders", "list", "--customer", str(billed.customer_id))
    assert code == 0, out
    assert "draft" in out
    assert "12.20 EUR" in out
    code, out, _ = await tarif("reminders", "list", "--status", "draft", "--json")
    (listed,) = json.loads(out)["items"]
    assert (listed["level"], listed["document_date"], listed["overdue_total"]) == (
        1, "2027-01-04", "12.20",
    )  # fmt: skip

    before = await admin.count("job_runs")
    monkeypatch.setenv("TARIF_ENVIRONMENT", "production")
    code, _, err = await tarif("reminders", "start", str(aid), "--process-now", "2027-01-05")
    assert code == 2
    assert "production" in err
    assert await admin.count("job_runs") == before
    monkeypatch.setenv("TARIF_ENVIRONMENT", "test")
    code, out, _ = await tarif("reminders", "start", str(aid), "--process-now", "2027-01-05")
    assert code == 0, out
    assert f"automation {aid} started" in out
    assert "2027-01-05 00:00:00 UTC" in out
    assert await admin.count("job_runs") == before + 1
