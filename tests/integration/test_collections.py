"""Collections end to end on real Postgres and a real local SMTP server: reminder terms, levels
and an automation made through the admin API; the `collections` job run day after day with
"process now" dates; reminders created, issued (fees invoiced and posted) and e-mailed at the
right dates with the invoices attached as PDF; stop on error; idempotent runs; retries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tarif_billing.reconcile import reconcile_billing
from tarif_common.embedded import free_port
from tarif_jobs.runs import ItemRef
from tests.integration.admin_harness import Admin
from tests.integration.collections_harness import (
    Billed,
    collections_run,
    counts,
    customers_with_invoices,
    deployment,
    received,
)
from tests.servers import smtp_sink

FRENCH = {
    "language": "fr",
    "subject": "Relance n°{{ reminder.level }} : {{ reminder.total_due }} {{ reminder.currency }}",
    "beginning_text": "Bonjour {{ customer.name }},\nmerci de régler avant le"
    " {{ reminder.due_date }} :",
    "ending_text": "Cordialement,\n{{ seller.name }}",
}


def english(level: int) -> dict[str, str]:
    return {"language": "en", "subject": f"Reminder {level}: {{{{ reminder.total_due }}}}"}


async def standard_terms(admin: Admin) -> None:
    """STD: three levels, 5 then 3 days of grace, a fee of 5.00 EUR (taxed as any charge) at
    level 2 and 10.00 EUR (zero-rated) at level 3; texts in English and French."""
    answer = await admin.call(
        "POST", "/v1/reminder-terms", json={"code": "STD", "description": "standard"}
    )
    assert answer.status_code == 201, answer.text
    levels = [
        {"grace_period": "5D", "due_date_formula": "7D"},
        {"grace_period": "3D", "due_date_formula": "7D", "fee_amount": "5.00",
         "fee_currency": "EUR"},
        {"grace_period": "3D", "due_date_formula": "10D", "fee_amount": "10.00",
         "fee_currency": "EUR", "fee_tax": "VAT0"},
    ]  # fmt: skip
    for n, level in enumerate(levels, start=1):
        body = level | {"texts": [english(n), FRENCH]}
        answer = await admin.call("PUT", f"/v1/reminder-terms/STD/levels/{n}", json=body)
        assert answer.status_code == 200, answer.text
    assert [lv["level"] for lv in answer.json()["levels"]] == [1, 2, 3]


async def give_terms(admin: Admin, billed: Billed, terms: str | None, language: str | None) -> None:
    answer = await admin.call(
        "PUT",
        f"/v1/billing-profiles/{billed.profile_id}/reminder-terms",
        json={"terms": terms, "language": language},
    )
    assert answer.status_code == 200, answer.text


async def reminders_of(admin: Admin, billed: Billed) -> list[dict[str, Any]]:
    answer = await admin.call("GET", f"/v1/reminders?customer_id={billed.customer_id}&limit=50")
    assert answer.status_code == 200, answer.text
    return list(reversed(answer.json()["items"]))


def days(first: date, last: date) -> list[datetime]:
    """09:00 UTC of every day from `first` to `last`."""
    n = (last - first).days
    return [datetime(first.year, first.month, first.day, 9, tzinfo=UTC) + timedelta(days=i)
            for i in range(n + 1)]  # fmt: skip


@pytest.mark.slow
async def test_ninety_days_of_collections(admin: Admin) -> None:
    """A weekly automation (Fridays from 4 December) creates, issues and sends: the invoice due
    16 December gets level 1 on 25 December (16 + 5 days of grace), level 2 on 8 January (the
    first reminder's due date 1 January + 3), level 3 on 22 January (15 + 3), then nothing
    (three reminders at most). A customer who paid after the first gets no second one; one
    without terms is never reminded."""
    late, payer, untermed = await customers_with_invoices(
        admin, "38640900001", "38640900002", "38640900003"
    )
    await standard_terms(admin)
    await give_terms(admin, late, "STD", "fr")
    await give_terms(admin, payer, "STD", None)
    automation = await admin.call(
        "POST",
        "/v1/reminder-automations",
        json={
            "name": "weekly dunning",
            "terms": ["STD"],
            "cadence": {"kind": "weekly", "starts_at": "2026-12-04T08:00:00Z"},
            "actions": [
                {"kind": "create"},
                {"kind": "issue", "options": {"replace_posting_date": True}},
                {"kind": "send", "options": {"attach": "all"}},
            ],
        },
    )
    assert automation.status_code == 201, automation.text
    automation_id = automation.json()["id"]
    assert automation.json()["next_run_at"] == "2026-12-04T08:00:00Z"

    with smtp_sink() as sink:
        settings = deployment(sink)
        for at in days(date(2026, 12, 1), date(2027, 2, 28)):
            if at.date() == date(2026, 12, 30):  # the payer pays everything it owes
                await pay_all(admin, payer)
            await collections_run(admin, settings, at)
        mails = received(sink)

    # three reminders for the late customer, at the right dates, each issued and sent then
    mine = await reminders_of(admin, late)
    expected = [
        (1, "2026-12-25", "2027-01-01", "0", None),
        (2, "2027-01-08", "2027-01-15", "5.00", "INV-000004"),
        (3, "2027-01-22", "2027-02-01", "10.00", "INV-000005"),
    ]
    assert [
        (r["level"], r["document_date"], r["due_date"], r["fee_amount"], r["fee_invoice_number"])
        for r in mine
    ] == expected
    for r, (_, day, *_) in zip(mine, expected, strict=True):
        assert r["status"] == "sent"
        assert r["sent_count"] == 1
        assert r["posting_date"] == day
        for moment in (r["created_at"], r["issued_at"], r["first_sent_at"]):
            assert moment.startswith(day)
        assert r["overdue_total"] == "12.20"
    # the payer: level 1 only; the customer without terms: nothing
    assert [(r["level"], r["document_date"]) for r in await reminders_of(admin, payer)] == [
        (1, "2026-12-25")
    ]
    assert await reminders_of(admin, untermed) == []

    # four e-mails: the late customer's in French with every unpaid invoice attached (its
    # invoice, then the fees' invoices as they were issued), the payer's in English
    assert [(m.to, m.subject) for m in mails] == [
        (late.email, "Relance n°1 : 12.20 EUR"),
        (payer.email, "Reminder 1: 12.20"),
        (late.email, "Relance n°2 : 18.30 EUR"),  # 12.20 + the fee's 6.10 (5.00 + 22 %)
        (late.email, "Relance n°3 : 22.20 EUR"),  # 12.20 + 10.00 (zero-rated)
    ]
    assert [sorted(m.attachments) for m in mails] == [
        ["INV-000001.pdf"],
        ["INV-000002.pdf"],
        ["INV-000001.pdf", "INV-000004.pdf"],
        ["INV-000001.pdf", "INV-000004.pdf", "INV-000005.pdf"],
    ]
    for m in mails:
        for name, text in m.attachments.items():
            assert name.removesuffix(".pdf") in text  # each PDF is that invoice
    first = mails[0].text
    assert first.startswith("Bonjour Ana Novak,\nmerci de régler avant le 2027-01-01 :")
    assert "INV-000001  2026-12-01  2026-12-16  12.20 EUR" in first
    assert "Reminder fee" in mails[3].attachments["INV-000005.pdf"]

    # the fees are invoices of their own, posted like any invoice: the books balance
    async with admin.pool.acquire() as conn:
        report = await reconcile_billing(
            conn, datetime(2026, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)
        )
        fees = await conn.fetch(
            "SELECT i.number, i.issue_date, i.due_date, i.total, l.ledger, l.tax_category"
            " FROM invoices i JOIN invoice_lines l ON l.invoice_id = i.id"
            " WHERE i.id IN (SELECT fee_invoice_id FROM reminders) ORDER BY i.id"
        )
        pending = await conn.fetchval(
            "SELECT pending_total FROM billing_profiles WHERE id = $1", late.profile_id
        )
        revenue = await conn.fetchval(
            "SELECT sum(credit - debit) FROM journal_lines WHERE account = 'revenue:reminder_fees'"
        )
    assert report.balanced, report.differences
    assert [tuple(f) for f in fees] == [
        ("INV-000004", date(2027, 1, 8), date(2027, 1, 15), Decimal("6.10"), "reminder_fees", "S"),
        ("INV-000005", date(2027, 1, 22), date(2027, 2, 1), Decimal("10.00"), "reminder_fees", "Z"),
    ]
    assert pending == Decimal("28.30")  # 12.20 + 6.10 + 10.00
    assert revenue == Decimal("15.00")

    # every run is logged: 13 Fridays, each with its three actions
    runs = (
        await admin.call("GET", f"/v1/reminder-automations/{automation_id}/runs?limit=50")
    ).json()
    fridays = [r["process_now"][:10] for r in reversed(runs["items"])]
    assert fridays == [d.isoformat() for d in weekly(date(2026, 12, 4), date(2027, 2, 28))]
    assert all(r["status"] == "succeeded" for r in runs["items"])
    on_22_january = next(r for r in runs["items"] if r["process_now"].startswith("2027-01-22"))
    assert [(a["kind"], a["status"], a["processed"]) for a in on_22_january["actions"]] == [
        ("create", "succeeded", 1),
        ("issue", "succeeded", 1),
        ("send", "succeeded", 1),
    ]
    after = (await admin.call("GET", f"/v1/reminder-automations/{automation_id}")).json()
    assert after["next_run_at"] == "2027-03-05T08:00:00Z"


def weekly(first: date, last: date) -> list[date]:
    return [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]


async def pay_all(admin: Admin, billed: Billed) -> None:
    async with admin.pool.acquire() as conn:
        due = await conn.fetchval(
            "SELECT pending_total FROM billing_profiles WHERE id = $1", billed.profile_id
        )
    answer = await admin.call(
        "POST",
        f"/v1/billing-profiles/{billed.profile_id}/payments",
        role="operator",
        json={"request_id": f"pay-{billed.profile_id}", "kind": "charge", "method": "transfer",
              "amount": str(due), "currency": "EUR"},
    )  # fmt: skip
    assert answer.status_code == 201, answer.text


async def fee_terms(admin: Admin, code: str = "FEE") -> None:
    """One reminder (one level): 5 days after the due date, with a 3.00 EUR fee."""
    answer = await admin.call("POST", "/v1/reminder-terms", json={"code": code, "max_reminders": 1})
    assert answer.status_code == 201, answer.text
    level = {"grace_period": "5D", "due_date_formula": "10D", "fee_amount": "3.00",
             "fee_currency": "EUR", "texts": [english(1)]}  # fmt: skip
    answer = await admin.call("PUT", f"/v1/reminder-terms/{code}/levels/1", json=level)
    assert answer.status_code == 200, answer.text


async def manual_automation(admin: Admin, name: str, terms: list[str], **issue: Any) -> int:
    answer = await admin.call(
        "POST",
        "/v1/reminder-automations",
        json={
            "name": name,
            "terms": terms,
            "cadence": {"kind": "manual"},
            "actions": [
                {"kind": "create"},
                {"kind": "issue", "stop_on_error": True, "options": issue},
                {"kind": "send"},
            ],
        },
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["next_run_at"] is None
    return int(answer.json()["id"])


async def start(admin: Admin, automation_id: int, at: datetime) -> int:
    """Start through the API (a test deployment takes a process-now date): the queued run."""
    admin.app.state.settings = deployment(None)
    answer = await admin.call(
        "POST",
        f"/v1/reminder-automations/{automation_id}/start",
        role="operator",
        json={"process_now": at.isoformat()},
    )
    assert answer.status_code == 202, answer.text
    started = answer.json()
    assert (started["status"], started["automation_id"]) == ("queued", automation_id)
    return int(started["job_run_id"])


async def last_run(admin: Admin, automation_id: int) -> dict[str, Any]:
    runs = await admin.call("GET", f"/v1/reminder-automations/{automation_id}/runs")
    return dict(runs.json()["items"][0])


async def test_stop_on_error_halts_the_later_actions_and_a_retry_finishes(admin: Admin) -> None:
    (billed,) = await customers_with_invoices(admin, "38640900011")
    await fee_terms(admin)
    await give_terms(admin, billed, "FEE", None)
    automation_id = await manual_automation(admin, "by hand", ["FEE"])
    at = datetime(2027, 1, 4, 9, tzinfo=UTC)

    # the seller is not set: the fee's invoice cannot be issued, so the reminder is not issued
    # and, the issue action stopping on error, nothing is sent
    with smtp_sink() as sink:
        job_run = await start(admin, automation_id, at)
        await collections_run(admin, deployment(sink, seller_name=""), at, run_id=job_run)
        assert sink.messages == []
    run = await last_run(admin, automation_id)
    assert (run["trigger"], run["status"], run["job_run_id"]) == ("start", "failed", job_run)
    assert [(a["kind"], a["status"], a["processed"], a["failed"]) for a in run["actions"]] == [
        ("create", "succeeded", 1, 0),
        ("issue", "failed", 1, 1),
        ("send", "skipped", 0, 0),
    ]
    assert "seller" in run["actions"][1]["error"]
    (reminder,) = await reminders_of(admin, billed)
    assert reminder["status"] == "draft"
    assert "seller" in reminder["last_error"]
    async with admin.pool.acquire() as conn:
        item = await conn.fetchrow("SELECT * FROM job_run_items WHERE run_id = $1", job_run)
        alerts = await conn.fetchval("SELECT count(*) FROM alerts WHERE acknowledged_at IS NULL")
        invoices = await conn.fetchval("SELECT count(*) FROM invoices")
        counted = await conn.fetchrow(
            "SELECT total, succeeded, failed FROM job_runs WHERE id = $1", job_run
        )
    assert (item["object_type"], item["object_id"]) == ("reminder", str(reminder["id"]))
    assert "seller" in item["error"]
    assert alerts >= 1
    assert invoices == 1  # the failed fee invoice was rolled back with its reminder's issue
    assert tuple(counted) == (2, 1, 1)

    # once the seller is set, a retry of the failed item issues and sends that reminder
    with smtp_sink() as sink:
        retry = await collections_run(
            admin,
            deployment(sink),
            at,
            retry_of=job_run,
            only=frozenset({ItemRef("reminder", str(reminder["id"]))}),
        )
        mails = received(sink)
    run = await last_run(admin, automation_id)
    assert (run["trigger"], run["status"], run["job_run_id"]) == ("retry", "succeeded", retry)
    assert [(a["kind"], a["status"], a["processed"]) for a in run["actions"]] == [
        ("create", "succeeded", 0),  # a retry re-does failed items only
        ("issue", "succeeded", 1),
        ("send", "succeeded", 1),
    ]
    (reminder,) = await reminders_of(admin, billed)
    assert (reminder["status"], reminder["fee_amount"], reminder["last_error"]) == (
        "sent", "3.00", None,
    )  # fmt: skip
    (mail,) = mails
    assert mail.to == billed.email
    assert sorted(mail.attachments) == ["INV-000001.pdf"]  # the overdue invoice only


async def test_without_stop_on_error_the_later_actions_run(admin: Admin) -> None:
    (billed,) = await customers_with_invoices(admin, "38640900021")
    await fee_terms(admin)
    await give_terms(admin, billed, "FEE", None)
    automation_id = await manual_automation(admin, "by hand", ["FEE"])
    automation = (await admin.call("GET", f"/v1/reminder-automations/{automation_id}")).json()
    issue = automation["actions"][1]
    answer = await admin.call(
        "PATCH",
        f"/v1/reminder-automations/{automation_id}/actions/{issue['id']}",
        json={"stop_on_error": False},
    )
    assert answer.status_code == 200, answer.text
    at = datetime(2027, 1, 4, 9, tzinfo=UTC)
    job_run = await start(admin, automation_id, at)
    await collections_run(admin, deployment(None, seller_name=""), at, run_id=job_run)
    run = await last_run(admin, automation_id)
    assert [(a["kind"], a["status"]) for a in run["actions"]] == [
        ("create", "succeeded"),
        ("issue", "failed"),
        ("send", "succeeded"),  # it ran: nothing was issued, so nothing to send
    ]


async def test_a_second_run_as_of_the_same_time_does_nothing_twice(admin: Admin) -> None:
    (billed,) = await customers_with_invoices(admin, "38640900031")
    await fee_terms(admin)
    await give_terms(admin, billed, "FEE", None)
    answer = await admin.call(
        "POST",
        "/v1/reminder-automations",
        json={
            "name": "month ends",
            "cadence": {"kind": "custom", "formula": "CM+5D", "starts_at": "2027-01-04T08:00:00Z"},
            "actions": [{"kind": "create"}, {"kind": "issue"}, {"kind": "send"}],
        },
    )
    assert answer.status_code == 201, answer.text
    automation_id = answer.json()["id"]
    at = datetime(2027, 1, 4, 9, tzinfo=UTC)
    with smtp_sink() as sink:
        settings = deployment(sink)
        await collections_run(admin, settings, at)
        before = await counts(admin)
        async with admin.pool.acquire() as conn:
            journal = await conn.fetchval("SELECT count(*) FROM journal_lines")
        # the same time again: the automation is not due any more (its next run is 5 February)
        await collections_run(admin, settings, at)
        # and even started by hand as of that time, its actions find nothing left to do
        await collections_run(admin, settings, at, {"automations": [automation_id], "start": True})
        assert len(sink.messages) == 1
    after = (await admin.call("GET", f"/v1/reminder-automations/{automation_id}")).json()
    assert after["next_run_at"] == "2027-02-05T08:00:00Z"  # CM+5D from 4 January
    now = await counts(admin)
    assert {t: now[t] - before[t] for t in now if now[t] != before[t]} == {
        "job_runs": 2,
        "reminder_runs": 1,  # the second run found nothing due; the Start ran
    }
    async with admin.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM journal_lines") == journal
    (reminder,) = await reminders_of(admin, billed)
    assert (reminder["status"], reminder["sent_count"]) == ("sent", 1)


async def test_a_reminder_is_sent_again_only_as_often_and_as_late_as_allowed(admin: Admin) -> None:
    (billed,) = await customers_with_invoices(admin, "38640900041")
    await fee_terms(admin)
    await give_terms(admin, billed, "FEE", None)
    answer = await admin.call(
        "POST",
        "/v1/reminder-automations",
        json={
            "name": "daily",
            "cadence": {"kind": "custom", "formula": "1D", "starts_at": "2027-01-04T08:00:00Z"},
            "actions": [
                {"kind": "create"},
                {"kind": "issue"},
                {"kind": "send", "options": {"max_sends": 2, "resend_after": "1W",
                                             "attach": "none"}},
            ],
        },
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    with smtp_sink() as sink:
        settings = deployment(sink)
        for at in days(date(2027, 1, 4), date(2027, 1, 31)):
            await collections_run(admin, settings, at)
        mails = received(sink)
    assert [m.attachments for m in mails] == [{}, {}]  # sent on 4 and 11 January, then no more
    (reminder,) = await reminders_of(admin, billed)
    assert reminder["sent_count"] == 2
    assert reminder["first_sent_at"].startswith("2027-01-04")
    assert reminder["last_sent_at"].startswith("2027-01-11")
    async with admin.pool.acquire() as conn:
        keys = [r[0] for r in await conn.fetch("SELECT message_key FROM email_log ORDER BY id")]
    assert keys == [f"reminder:{reminder['id']}:send:1", f"reminder:{reminder['id']}:send:2"]


async def test_a_refused_email_fails_the_item_and_a_retry_sends_it(admin: Admin) -> None:
    (billed,) = await customers_with_invoices(admin, "38640900051")
    await fee_terms(admin)
    await give_terms(admin, billed, "FEE", None)
    automation_id = await manual_automation(admin, "by hand", ["FEE"])
    at = datetime(2027, 1, 4, 9, tzinfo=UTC)
    job_run = await start(admin, automation_id, at)
    nobody = deployment(None, smtp_host="127.0.0.1", smtp_port=free_port())  # nothing listens
    await collections_run(admin, nobody, at, run_id=job_run)

    run = await last_run(admin, automation_id)
    assert [(a["kind"], a["status"]) for a in run["actions"]] == [
        ("create", "succeeded"),
        ("issue", "succeeded"),
        ("send", "failed"),
    ]
    (reminder,) = await reminders_of(admin, billed)
    assert (reminder["status"], reminder["sent_count"]) == ("issued", 0)
    assert "could not be sent" in reminder["last_error"]
    async with admin.pool.acquire() as conn:
        log = await conn.fetchrow("SELECT status, error, message_key FROM email_log")
        item = await conn.fetchrow("SELECT object_type, object_id FROM job_run_items")
        processes = {r[0] for r in await conn.fetch("SELECT process FROM alerts")}
    assert (log["status"], log["message_key"]) == ("failed", f"reminder:{reminder['id']}:send:1")
    assert tuple(item) == ("reminder", str(reminder["id"]))
    assert processes == {"email.reminder", "job.collections"}

    with smtp_sink() as sink:
        await collections_run(
            admin, deployment(sink), at, retry_of=job_run,
            only=frozenset({ItemRef("reminder", str(reminder["id"]))}),
        )  # fmt: skip
        (mail,) = received(sink)
    assert mail.to == billed.email
    (reminder,) = await reminders_of(admin, billed)
    assert (reminder["status"], reminder["sent_count"], reminder["last_error"]) == ("sent", 1, None)
    async with admin.pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM email_log") == "sent"


async def test_a_run_stopped_midway_is_resumed_without_doing_anything_twice(admin: Admin) -> None:
    (billed,) = await customers_with_invoices(admin, "38640900061")
    await fee_terms(admin)
    await give_terms(admin, billed, "FEE", None)
    answer = await admin.call(
        "POST",
        "/v1/reminder-automations",
        json={
            "name": "weekly",
            "cadence": {"kind": "weekly", "starts_at": "2027-01-01T08:00:00Z"},
            "actions": [{"kind": "create"}, {"kind": "issue"}, {"kind": "send"}],
        },
    )
    assert answer.status_code == 201, answer.text
    automation_id = answer.json()["id"]
    at = datetime(2027, 1, 4, 9, tzinfo=UTC)
    calls = iter(range(1_000))

    def stopping() -> bool:
        # SIGTERM arrives once the create action has made its reminder (its loop asked twice)
        return next(calls) >= 2

    with smtp_sink() as sink:
        settings = deployment(sink)
        job_run = await collections_run(admin, settings, at, stop=stopping)
        (reminder,) = await reminders_of(admin, billed)
        assert reminder["status"] == "draft"
        (run,) = (await admin.call("GET", f"/v1/reminder-automations/{automation_id}/runs")).json()[
            "items"
        ]
        assert (run["status"], run["actions"]) == ("running", [])
        automation = (await admin.call("GET", f"/v1/reminder-automations/{automation_id}")).json()
        assert automation["next_run_at"] == "2027-01-01T08:00:00Z"  # still due

        # the queue hands the run to a worker again: it takes the same automation run up
        await collections_run(admin, settings, at, run_id=job_run)
        assert len(sink.messages) == 1
    (run,) = (await admin.call("GET", f"/v1/reminder-automations/{automation_id}/runs")).json()[
        "items"
    ]
    assert run["status"] == "succeeded"
    assert [(a["kind"], a["processed"]) for a in run["actions"]] == [
        ("create", 0),  # made before the stop: not made again
        ("issue", 1),
        ("send", 1),
    ]
    (reminder,) = await reminders_of(admin, billed)
    assert (reminder["status"], reminder["sent_count"]) == ("sent", 1)
    automation = (await admin.call("GET", f"/v1/reminder-automations/{automation_id}")).json()
    assert automation["next_run_at"] == "2027-01-08T08:00:00Z"
