"""The e-mail log through the admin API and the CLI: listed with filters and pages, an
invoice's e-mail sent now (once, or again with `force`), a failed message sent again, every
refusal typed and sending nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.admin_harness import Admin
from tests.integration.invoicing_harness import invoiced_customers, pdf_of, settings
from tests.integration.test_cli_output import Run, tarif  # noqa: F401 (the fixture)
from tests.servers import smtp_sink

PROBLEM = "application/problem+json"


async def test_an_invoice_is_mailed_now_once_or_again_on_purpose(admin: Admin) -> None:
    made = await invoiced_customers(admin, "38640720001", "38640720002", failing=("38640720002",))
    issued, failed = made["38640720001"], made["38640720002"]
    with smtp_sink() as sink:
        admin.app.state.settings = settings(sink.port)
        path = f"/v1/invoices/{issued.invoice_id}/email"
        assert (await admin.call("POST", path, "auditor")).status_code == 403

        sent = await admin.call("POST", path, "operator")

        assert sent.status_code == 200, sent.text
        body = sent.json()
        assert body["message_key"] == f"invoice:{issued.invoice_id}:issued"
        assert (body["status"], body["kind"], body["object_type"], body["object_id"]) == (
            "sent",
            "invoice",
            "invoice",
            str(issued.invoice_id),
        )
        assert body["attachments"] == [f"{issued.number}.pdf"]
        assert body["recipient"] == "ana.novak@example.com"
        (message,) = sink.messages
        assert pdf_of(message)[0] == f"{issued.number}.pdf"
        # the job will not send it again; neither does a second call without force
        assert not await admin.pool.fetchval(
            "SELECT email_pending FROM invoices WHERE id = $1", issued.invoice_id
        )
        twice = await admin.call("POST", path, "operator", json={})
        assert twice.status_code == 409
        assert twice.headers["content-type"] == PROBLEM
        assert "force" in twice.json()["detail"]
        assert len(sink.messages) == 1
        forced = await admin.call("POST", path, "operator", json={"force": True})
        assert forced.status_code == 200, forced.text
        assert forced.json()["message_key"].startswith(f"invoice:{issued.invoice_id}:again:")
        assert forced.json()["status"] == "sent"
        assert len(sink.messages) == 2

        # refused, nothing sent: a failed invoice (no document), an unknown one, a bad body
        no_document = await admin.call("POST", f"/v1/invoices/{failed.invoice_id}/email")
        assert no_document.status_code == 409
        assert "failed" in no_document.json()["detail"]
        assert (await admin.call("POST", "/v1/invoices/999999/email")).status_code == 404
        bad = await admin.call("POST", path, json={"force": "please"})
        assert bad.status_code == 422
        assert bad.json()["field"] == "body.force"
        assert len(sink.messages) == 2
        assert await admin.count("email_log") == 2
        audited = await admin.pool.fetch(
            "SELECT action, after FROM audit_log WHERE action = 'invoice.email' ORDER BY id"
        )
        assert [r["after"]["status"] for r in audited] == ["sent", "sent"]


async def test_the_smtp_server_down_answers_503_and_the_message_stays_failed(
    admin: Admin,
) -> None:
    made = await invoiced_customers(admin, "38640720011")
    invoice = made["38640720011"]
    admin.app.state.settings = settings(None)

    down = await admin.call("POST", f"/v1/invoices/{invoice.invoice_id}/email", "operator")

    assert down.status_code == 503
    assert down.headers["content-type"] == PROBLEM
    assert "smtp" in down.json()["detail"]
    row = await admin.pool.fetchrow("SELECT id, status, error FROM email_log")
    assert row["status"] == "failed"
    assert await admin.pool.fetchval(
        "SELECT email_pending FROM invoices WHERE id = $1", invoice.invoice_id
    )
    again = await admin.call("POST", f"/v1/email-log/{row['id']}/resend", "operator")
    assert again.status_code == 503
    assert (await admin.call("GET", f"/v1/email-log/{row['id']}", "auditor")).json()[
        "attempts"
    ] == 2


async def test_the_log_lists_with_filters_and_pages(admin: Admin) -> None:
    made = await invoiced_customers(admin, "38640720021", "38640720022", "38640720023")
    ids = sorted(i.invoice_id for i in made.values())
    with smtp_sink() as sink:
        admin.app.state.settings = settings(sink.port)
        for invoice_id in ids[:2]:
            answer = await admin.call("POST", f"/v1/invoices/{invoice_id}/email", "operator")
            assert answer.status_code == 200, answer.text
    admin.app.state.settings = settings(None)
    down = await admin.call("POST", f"/v1/invoices/{ids[2]}/email", "operator")
    assert down.status_code == 503
    # a message of another kind: the API lists it but leaves its resend to its own job
    other = await admin.pool.fetchval(
        "INSERT INTO email_log (message_key, kind, object_type, object_id, recipient, subject,"
        " status, error) VALUES ('reminder:1:send:1', 'reminder', 'reminder', '1',"
        " 'x@example.com', 'Reminder', 'failed', 'smtp: down') RETURNING id"
    )

    everything = (await admin.call("GET", "/v1/email-log", "auditor")).json()
    assert [m["id"] for m in everything["items"]] == sorted(
        (m["id"] for m in everything["items"]), reverse=True
    )
    assert len(everything["items"]) == 4
    failed = (await admin.call("GET", "/v1/email-log", params={"status": "failed"})).json()
    assert {m["kind"] for m in failed["items"]} == {"invoice", "reminder"}
    invoices_failed = await admin.call(
        "GET", "/v1/email-log", params={"status": "failed", "kind": "invoice"}
    )
    (only,) = invoices_failed.json()["items"]
    assert only["object_id"] == str(ids[2])
    about = await admin.call(
        "GET", "/v1/email-log", params={"object_type": "invoice", "object_id": str(ids[0])}
    )
    assert [m["status"] for m in about.json()["items"]] == ["sent"]
    now = datetime.now(UTC)
    period = {
        "created_from": (now - timedelta(hours=1)).isoformat(),
        "created_to": (now + timedelta(hours=1)).isoformat(),
    }
    assert len((await admin.call("GET", "/v1/email-log", params=period)).json()["items"]) == 4
    future = {"created_from": (now + timedelta(hours=1)).isoformat()}
    assert (await admin.call("GET", "/v1/email-log", params=future)).json()["items"] == []
    first = (await admin.call("GET", "/v1/email-log", params={"limit": 3})).json()
    assert len(first["items"]) == 3
    assert first["next_cursor"]
    rest = await admin.call(
        "GET", "/v1/email-log", params={"limit": 3, "cursor": first["next_cursor"]}
    )
    assert [m["id"] for m in rest.json()["items"]] == [min(m["id"] for m in everything["items"])]

    refused = await admin.call("POST", f"/v1/email-log/{other}/resend", "operator")
    assert refused.status_code == 409
    assert "reminder" in refused.json()["detail"]
    sent_id = about.json()["items"][0]["id"]
    assert (await admin.call("POST", f"/v1/email-log/{sent_id}/resend")).status_code == 409
    assert (await admin.call("GET", "/v1/email-log/999999")).status_code == 404
    assert (await admin.call("POST", "/v1/email-log/999999/resend")).status_code == 404
    for params, field in (
        ({"status": "lost"}, "query.status"),
        ({"object_id": "1"}, "query.object_id"),
        (
            {"created_from": now.isoformat(), "created_to": now.isoformat()},
            "query.created_to",
        ),
        ({"cursor": "bm9wZQ=="}, "cursor"),
    ):
        answer = await admin.call("GET", "/v1/email-log", params=params)
        assert answer.status_code == 422, params
        assert answer.json()["field"] == field


@pytest.mark.slow
async def test_the_cli_lists_and_resends(
    admin: Admin,
    tarif: Run,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    made = await invoiced_customers(admin, "38640720031")
    invoice = made["38640720031"]
    admin.app.state.settings = settings(None)
    assert (await admin.call("POST", f"/v1/invoices/{invoice.invoice_id}/email")).status_code == 503
    log_id = await admin.pool.fetchval("SELECT id FROM email_log")

    code, out, _ = await tarif("email-log", "--status", "failed")
    assert code == 0, out
    assert f"invoice {invoice.invoice_id}" in out
    assert "failed" in out
    code, out, _ = await tarif("email-log", "--status", "sent", "--json")
    assert json.loads(out)["items"] == []

    with smtp_sink() as sink:
        monkeypatch.setenv("TARIF_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("TARIF_SMTP_PORT", str(sink.port))
        code, out, err = await tarif("email-log", "resend", str(log_id), "--json")
        assert code == 0, err
        assert json.loads(out)["status"] == "sent"
        (message,) = sink.messages
        assert pdf_of(message)[0] == f"{invoice.number}.pdf"
        code, _, err = await tarif("email-log", "resend", str(log_id))
        assert code == 2
        assert "was sent" in err
        assert len(sink.messages) == 1
    code, out, _ = await tarif("email-log", "show", str(log_id))
    assert code == 0
    assert out.splitlines()[0].split() == ["e-mail", str(log_id), "(sent)"]
