"""The invoicing job on real Postgres and a real local SMTP server: failed invoices made again
once their data is fixed, each issued invoice e-mailed once with its PDF, a failed e-mail
logged failed with its alert and sent by a resend, criteria and retries restricting the run."""

from __future__ import annotations

import asyncio

from tarif_jobs.runs import ItemRef
from tests.integration.admin_harness import Admin
from tests.integration.invoicing_harness import (
    body_of,
    invoiced_customers,
    pdf_attachments,
    pdf_of,
    pdf_text,
    run_job,
    settings,
)
from tests.servers import smtp_sink


async def test_failed_invoices_are_made_again_and_each_invoice_is_mailed_once(
    admin: Admin,
) -> None:
    made = await invoiced_customers(
        admin, "38640700001", "38640700002", "38640700003", failing=("38640700003",)
    )
    a, b, c = made["38640700001"], made["38640700002"], made["38640700003"]
    # B has no billing contact: its invoices go to the customer's own e-mail
    gone = await admin.call("DELETE", f"/v1/customers/{b.customer['id']}/contacts/billing")
    assert gone.status_code == 204, gone.text
    with smtp_sink() as sink:
        job_settings = settings(sink.port)

        first = await run_job(admin.pool, "invoicing", job_settings, admin.engine.redis)

        # C's profile still has no tax: made again, failed again, with the full reason
        assert first.counts == (3, 2, 1)
        (failed,) = first.failed_items
        assert (failed["object_type"], failed["object_id"]) == ("invoice", str(c.invoice_id))
        assert "no tax" in failed["error"]
        assert "fix it" in failed["cause"]
        assert await admin.pool.fetchval(
            "SELECT status FROM invoices WHERE id = $1", c.invoice_id
        ) == ("failed")
        assert len(sink.messages) == 2
        by_number = {m["Subject"].split()[1]: m for m in sink.messages}
        assert set(by_number) == {a.number, b.number}
        recipients = sorted(rcpt for _, rcpts in sink.envelopes for rcpt in rcpts)
        assert recipients == sorted(["ana.novak@example.com", "c38640700002@example.com"])
        for invoice in (a, b):
            message = by_number[invoice.number]
            assert message["From"] == "Billing <billing@seller.example>"
            name, pdf = pdf_of(message)
            assert name == f"{invoice.number}.pdf"
            assert pdf.startswith(b"%PDF")
            assert invoice.number is not None
            assert invoice.number in pdf_text(pdf)
            assert pdf_attachments(pdf) == ["factur-x.xml"]  # the Factur-X PDF
            assert "12.20 EUR" in body_of(message)  # 10.00 + 22 % VAT
        logged = await admin.pool.fetch(
            "SELECT message_key, kind, object_type, object_id, status, run_id, attachments"
            " FROM email_log ORDER BY object_id"
        )
        assert [(r["message_key"], r["status"], r["run_id"]) for r in logged] == [
            (f"invoice:{a.invoice_id}:issued", "sent", first.run_id),
            (f"invoice:{b.invoice_id}:issued", "sent", first.run_id),
        ]
        assert {(r["kind"], r["object_type"]) for r in logged} == {("invoice", "invoice")}

        # the same run again: nothing is sent twice, the failed invoice fails again
        again = await run_job(admin.pool, "invoicing", job_settings, admin.engine.redis)
        assert again.counts == (1, 0, 1)
        assert len(sink.messages) == 2

        # the data is fixed: the invoice is made with the next number and mailed, alone
        await admin.pool.execute(
            "UPDATE billing_profiles SET tax = 'VAT22' WHERE id = $1", c.profile
        )
        fixed = await run_job(admin.pool, "invoicing", job_settings, admin.engine.redis)
        assert fixed.counts == (2, 2, 0)
        number = await admin.pool.fetchval(
            "SELECT number FROM invoices WHERE id = $1 AND status = 'billing'", c.invoice_id
        )
        assert number == "INV-000003"
        assert len(sink.messages) == 3
        assert sink.messages[-1]["Subject"].split()[1] == number
        assert await admin.pool.fetchval("SELECT count(*) FROM email_log") == 3
        assert await admin.pool.fetchval("SELECT count(*) FROM invoices WHERE email_pending") == 0
        last = await run_job(admin.pool, "invoicing", job_settings, admin.engine.redis)
        assert last.counts == (0, 0, 0)
        assert len(sink.messages) == 3


async def test_a_failed_email_is_logged_alerted_and_sent_by_a_resend(admin: Admin) -> None:
    made = await invoiced_customers(admin, "38640700011")
    invoice = made["38640700011"]

    down = await run_job(admin.pool, "invoicing", settings(None), admin.engine.redis)

    assert down.counts == (1, 0, 1)
    (item,) = down.failed_items
    assert (item["object_type"], item["object_id"]) == ("invoice", str(invoice.invoice_id))
    assert "MailFailed: smtp:" in item["error"]
    assert item["cause"] == "the SMTP server refused the message or could not be reached"
    log_row = await admin.pool.fetchrow("SELECT * FROM email_log")
    assert (log_row["status"], log_row["attempts"], log_row["run_id"]) == ("failed", 1, down.run_id)
    assert log_row["error"].startswith("smtp:")
    alerts = await admin.pool.fetch(
        "SELECT alert_key, process, object_type FROM alerts WHERE acknowledged_at IS NULL"
        " ORDER BY alert_key"
    )
    assert [r["alert_key"] for r in alerts] == ["email:invoice", f"job-run:{down.run_id}"]
    activity = await admin.pool.fetch("SELECT process, object_type FROM activity_log")
    assert {(r["process"], r["object_type"]) for r in activity} == {
        ("email.invoice", "email"),
        ("invoicing", "invoice"),
    }
    assert await admin.pool.fetchval(
        "SELECT email_pending FROM invoices WHERE id = $1", invoice.invoice_id
    )

    with smtp_sink() as sink:
        admin.app.state.settings = settings(sink.port)
        resent = await admin.call("POST", f"/v1/email-log/{log_row['id']}/resend", "operator")
        assert resent.status_code == 200, resent.text
        assert (resent.json()["status"], resent.json()["attempts"]) == ("sent", 2)
        (message,) = sink.messages
        assert message["Subject"].split()[1] == invoice.number
        assert pdf_of(message)[0] == f"{invoice.number}.pdf"
        # sent: the next run has nothing to send, and a resend is refused
        after = await run_job(admin.pool, "invoicing", settings(sink.port), admin.engine.redis)
        assert after.counts == (0, 0, 0)
        refused = await admin.call("POST", f"/v1/email-log/{log_row['id']}/resend", "operator")
        assert refused.status_code == 409
        assert len(sink.messages) == 1


async def test_criteria_and_a_retry_restrict_the_run(admin: Admin) -> None:
    made = await invoiced_customers(admin, "38640700021", "38640700022")
    a, b = made["38640700021"], made["38640700022"]
    with smtp_sink() as sink:
        job_settings = settings(sink.port)
        nobody = await run_job(
            admin.pool,
            "invoicing",
            job_settings,
            admin.engine.redis,
            criteria={"customer_types": ["business"]},
        )
        assert nobody.counts == (0, 0, 0)
        only_b = await run_job(
            admin.pool,
            "invoicing",
            job_settings,
            admin.engine.redis,
            criteria={"customer_ids": [b.customer["id"]], "payment_type": "postpaid"},
        )
        assert only_b.counts == (1, 1, 0)
        assert [m["Subject"].split()[1] for m in sink.messages] == [b.number]
        # a retry names the invoices it redoes: A alone, whatever the criteria select
        retry = await run_job(
            admin.pool,
            "invoicing",
            job_settings,
            admin.engine.redis,
            only={ItemRef("invoice", str(a.invoice_id)), ItemRef("billing_profile", "1")},
        )
        assert retry.counts == (1, 1, 0)
        assert [m["Subject"].split()[1] for m in sink.messages] == [b.number, a.number]


async def test_two_runs_side_by_side_send_each_email_once(admin: Admin) -> None:
    made = await invoiced_customers(admin, "38640700031", "38640700032", "38640700033")
    with smtp_sink() as sink:
        job_settings = settings(sink.port)
        runs = await asyncio.gather(
            *(run_job(admin.pool, "invoicing", job_settings, admin.engine.redis) for _ in range(2))
        )
        assert sum(run.counts[2] for run in runs) == 0
        assert sorted(m["Subject"].split()[1] for m in sink.messages) == sorted(
            str(i.number) for i in made.values()
        )
        assert await admin.pool.fetchval("SELECT count(*) FROM invoices WHERE email_pending") == 0
