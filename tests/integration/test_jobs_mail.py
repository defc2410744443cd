"""Back-office e-mail: sent once per key with its attachments; a failure is logged, alerted and
sent again later."""

from __future__ import annotations

import asyncpg
import pytest

from tarif_jobs.mail import Attachment, Mail, Mailer, MailFailed, send_logged
from tarif_jobs.runs import ItemRef
from tests.servers import free_port, smtp_sink

MAIL = Mail(
    to="ana@example.com",
    subject="Invoice INV-1",
    text="Please find your invoice attached.",
    attachments=(Attachment("INV-1.pdf", b"%PDF-1.7 fake"),),
)


async def test_sent_once_per_key_with_attachment(pg: asyncpg.Pool) -> None:
    with smtp_sink() as sink:
        mailer = Mailer(host="127.0.0.1", port=sink.port, sender="billing@tarif.test")
        ref = ItemRef("invoice", "1")
        assert await send_logged(pg, mailer, "invoice:1:issued", "invoice", ref, MAIL)
        assert not await send_logged(pg, mailer, "invoice:1:issued", "invoice", ref, MAIL)
    assert len(sink.messages) == 1
    message = sink.messages[0]
    assert message["Subject"] == "Invoice INV-1"
    parts = [p for p in message.walk() if p.get_filename()]
    assert [(p.get_filename(), p.get_payload(decode=True)) for p in parts] == [
        ("INV-1.pdf", b"%PDF-1.7 fake")
    ]
    row = await pg.fetchrow("SELECT * FROM email_log")
    assert (row["status"], row["attempts"], row["attachments"]) == ("sent", 1, ["INV-1.pdf"])


async def test_failure_is_logged_alerted_and_sent_again(pg: asyncpg.Pool) -> None:
    down = Mailer(host="127.0.0.1", port=free_port(), sender="billing@tarif.test", timeout=2)
    ref = ItemRef("invoice", "2")
    for _ in range(2):
        with pytest.raises(MailFailed):
            await send_logged(pg, down, "invoice:2:issued", "invoice", ref, MAIL)
    row = await pg.fetchrow("SELECT * FROM email_log")
    assert (row["status"], row["attempts"]) == ("failed", 2)
    assert "smtp" in row["error"]
    alert = await pg.fetchrow("SELECT * FROM alerts")
    assert (alert["process"], alert["occurrences"]) == ("email.invoice", 2)
    assert await pg.fetchval("SELECT count(*) FROM activity_log WHERE level = 'error'") == 2
    with pytest.raises(MailFailed, match="no SMTP server"):
        await send_logged(pg, None, "invoice:2:issued", "invoice", ref, MAIL)

    with smtp_sink() as sink:
        up = Mailer(host="127.0.0.1", port=sink.port, sender="billing@tarif.test")
        assert await send_logged(pg, up, "invoice:2:issued", "invoice", ref, MAIL)
    assert len(sink.messages) == 1
    row = await pg.fetchrow("SELECT * FROM email_log")
    assert (row["status"], row["attempts"], row["error"]) == ("sent", 4, None)
