"""Export jobs against real local servers: an SFTP server (asyncssh, a temporary directory, keys
made for the test), an HTTP sink checking the webhook signature, an SMTP sink. Each destination
gets the file once; CSV and JSON hold the period's data exactly; a failing destination is a
failed item with an alert, and a retry delivers it; 100,000 rows are written as a stream."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import asyncssh
import psutil
import pytest
from redis.asyncio import Redis

from billing_batch.exports.files import write_export
from billing_batch.rated import ensure_partitions
from tarif_billing.payments import PaymentIn, record_payment
from tarif_common import signing
from tarif_common.settings import Settings
from tarif_jobs.report_criteria import ExportCriteria
from tests.integration.reports_harness import Line, customer, issue, run_job, seed
from tests.servers import HttpSink, SmtpSink, http_sink, smtp_sink

APRIL_1 = datetime(2026, 4, 1, 0, 10, tzinfo=UTC)
FILE = "invoices_2026-03-01_2026-03-31.csv"
SECRET = "whsec_" + "ZXhwb3J0LXNlY3JldA=="  # base64 of "export-secret"


@dataclass
class SftpServer:
    root: Path
    port: int
    host_key: str  # the server's public key, as an OpenSSH line
    key_file: Path  # the client's private key


@asynccontextmanager
async def sftp_server(tmp_path: Path) -> AsyncIterator[SftpServer]:
    """An SFTP server on 127.0.0.1 serving `tmp_path/root` to user `tarif`, who logs in with the
    test's key or the password `s3cret`."""
    root = tmp_path / "root"
    (root / "exports").mkdir(parents=True)
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    key_file = tmp_path / "client_key"
    client_key.write_private_key(str(key_file))
    key_file.chmod(0o600)

    class Server(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            return username == "tarif" and password == "s3cret"

        def public_key_auth_supported(self) -> bool:
            return True

        def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
            return username == "tarif" and key.public_data == client_key.public_data

    server = await asyncssh.listen(
        "127.0.0.1",
        0,
        server_factory=Server,
        server_host_keys=[host_key],
        sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(root)),
    )
    port = server.sockets[0].getsockname()[1]
    public = host_key.export_public_key().decode().strip()
    try:
        yield SftpServer(root, port, public, key_file)
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def sftp(tmp_path: Path) -> AsyncIterator[SftpServer]:
    async with sftp_server(tmp_path) as server:
        yield server


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    with http_sink() as running:
        yield running


@pytest.fixture
def mailbox() -> Iterator[SmtpSink]:
    with smtp_sink() as running:
        yield running


def settings(sftp: SftpServer, mailbox: SmtpSink, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": "redis://unused",
        "database_url": "postgresql://unused",
        "smtp_host": "127.0.0.1",
        "smtp_port": mailbox.port,
        "mail_from": "Tarif <exports@example.com>",
        "export_secrets": {"hook": SECRET, "sftp-password": "s3cret"},
        "export_sftp_keys": {"finance": str(sftp.key_file)},
        "export_timeout": 5.0,
    }
    return Settings(**(values | changes))


def destinations(sftp: SftpServer, sink: HttpSink, **sftp_changes: Any) -> list[dict[str, Any]]:
    return [
        {"type": "sftp", "host": "127.0.0.1", "port": sftp.port, "user": "tarif",
         "path": "/exports", "key_ref": "finance", "host_key": sftp.host_key} | sftp_changes,
        {"type": "webhook", "url": sink.url, "secret_ref": "hook"},
        {"type": "email", "to": ["finance@example.com", "audit@example.com"]},
    ]  # fmt: skip


async def march(pool: asyncpg.Pool) -> dict[str, int]:
    """Invoices of February, March and April 2026 for a residential and a business customer,
    and a payment of each in March."""
    await seed(pool)
    home, a = await customer(pool, 1)
    shop, b = await customer(pool, 2, customer_type="business")
    await issue(pool, a, date(2026, 2, 27), [Line("9.00")])
    d1 = await issue(pool, a, date(2026, 3, 5), [Line("10.00"), Line("30.00")])
    d2 = await issue(pool, b, date(2026, 3, 20), [Line("100.00")])
    await issue(pool, b, date(2026, 3, 25), [Line("20.00")], corrects=d2)
    await issue(pool, a, date(2026, 4, 2), [Line("30.00")])
    async with pool.acquire() as conn, conn.transaction():
        await record_payment(
            conn,
            PaymentIn("p1", a, "charge", "transfer", Decimal("48.80"),
                      "EUR", invoice_id=d1, received_at=datetime(2026, 3, 10, 12, tzinfo=UTC),
                      reference="=HYPERLINK(1)"),
        )  # fmt: skip
        await record_payment(
            conn,
            PaymentIn("p2", b, "charge", "cash", Decimal("50.00"), "EUR",
                      received_at=datetime(2026, 3, 31, 23, 59, tzinfo=UTC)),
        )  # fmt: skip
    return {"home": home, "shop": shop, "d1": d1, "d2": d2}


async def delivered(pool: asyncpg.Pool) -> list[tuple[str, str, int]]:
    rows = await pool.fetch(
        "SELECT destination, status, attempts FROM export_deliveries ORDER BY id"
    )
    return [tuple(r) for r in rows]


async def test_each_destination_gets_the_file_once(
    pg: asyncpg.Pool, redis: Redis, sftp: SftpServer, sink: HttpSink, mailbox: SmtpSink
) -> None:
    ids = await march(pg)
    criteria = {"data": "invoices", "destinations": destinations(sftp, sink)}
    s = settings(sftp, mailbox)
    outcome = await run_job(pg, redis, s, "export", criteria, APRIL_1)
    assert (outcome.total, outcome.succeeded, outcome.failed) == (3, 3, 0), outcome

    uploaded = (sftp.root / "exports" / FILE).read_bytes()
    assert not list((sftp.root / "exports").glob("*.part"))
    rows = list(csv.DictReader(io.StringIO(uploaded.decode())))
    assert [(r["kind"], r["issue_date"], r["customer_id"], r["total"]) for r in rows] == [
        ("invoice", "2026-03-05", str(ids["home"]), "48.80"),
        ("invoice", "2026-03-20", str(ids["shop"]), "122.00"),
        ("credit_note", "2026-03-25", str(ids["shop"]), "24.40"),
    ]
    assert rows[2]["corrects_number"] == rows[1]["number"]
    assert rows[0]["amount_due"] == "0.00"  # paid on 10 March

    (hook,) = sink.accepted()
    assert hook.body == uploaded
    assert signing.verify(SECRET, hook.headers, hook.body)
    assert hook.headers["content-type"] == "text/csv"
    assert FILE in hook.headers["content-disposition"]

    (mail,) = mailbox.messages
    assert mail["To"] == "finance@example.com, audit@example.com"
    assert mail["Subject"] == f"Tarif export {FILE}"
    (attachment,) = [p for p in mail.walk() if p.get_filename()]
    assert attachment.get_filename() == FILE
    assert attachment.get_payload(decode=True) == uploaded
    body = next(p for p in mail.walk() if p.get_content_type() == "text/plain")
    text = body.get_payload(decode=True).decode()
    assert "2026-03-01 to 2026-03-31" in text
    assert "3 rows" in text
    assert await delivered(pg) == [
        ("sftp", "delivered", 1), ("webhook", "delivered", 1), ("email", "delivered", 1)
    ]  # fmt: skip

    # the same period again (a second run, or one resumed): nothing is delivered twice
    (sftp.root / "exports" / FILE).unlink()
    again = await run_job(pg, redis, s, "export", criteria, datetime(2026, 4, 1, 6, tzinfo=UTC))
    assert (again.total, again.succeeded, again.failed) == (3, 3, 0)
    assert not (sftp.root / "exports" / FILE).exists()
    assert len(sink.received) == 1
    assert len(mailbox.messages) == 1
    assert [a for _, _, a in await delivered(pg)] == [1, 1, 1]


async def test_json_of_payments_and_usage_on_the_chosen_field(
    pg: asyncpg.Pool, redis: Redis, sftp: SftpServer, sink: HttpSink, mailbox: SmtpSink
) -> None:
    ids = await march(pg)
    async with pg.acquire() as conn:
        await conn.execute(
            "INSERT INTO mail_templates (name, body) VALUES ('finance.email',"
            " 'Subject: {{ data }} of {{ first_day }}\nRows: {{ rows }}')"
        )
    webhook = {"type": "webhook", "url": sink.url, "secret_ref": "hook"}
    mail = {"type": "email", "to": ["finance@example.com"], "template": "finance"}
    payments = {"data": "payments", "format": "json", "customer_types": ["business"],
                "destinations": [webhook, mail]}  # fmt: skip
    s = settings(sftp, mailbox)
    outcome = await run_job(pg, redis, s, "export", payments, APRIL_1)
    assert (outcome.succeeded, outcome.failed) == (2, 0), outcome
    (hook,) = sink.accepted()
    assert hook.headers["content-type"] == "application/json"
    # received 31 March 23:59 UTC: in March in UTC, the export's time zone
    assert hook.json() == [
        {"id": 2, "kind": "charge", "method": "cash", "provider": "", "reference": "",
         "customer_id": ids["shop"], "billing_profile_id": hook.json()[0]["billing_profile_id"],
         "invoice_id": None, "amount": "50.00", "currency": "EUR", "to_credit": "0.00",
         "received_at": "2026-03-31T23:59:00+00:00",
         "recorded_at": hook.json()[0]["recorded_at"], "recorded_by": "system"}
    ]  # fmt: skip
    (message,) = mailbox.messages
    assert message["Subject"] == "payments of 2026-03-01"

    # usage, selected on the time it was stored rather than the event time
    async with pg.acquire() as conn, conn.transaction():
        times = [datetime(2026, 2, 27, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)]
        await ensure_partitions(conn, times)
        await conn.executemany(
            "INSERT INTO rated_events (account_id, request_id, kind, service, event_time,"
            " charged_at, ingested_at, units, cost, currency) VALUES ($1, $2, 'event', 'sms',"
            " $3, $3, $4, 1, $5, 'EUR')",
            [
                ("acc-1", "e:late", times[0], datetime(2026, 3, 3, tzinfo=UTC), "0.05"),
                ("acc-1", "e:march", times[1], datetime(2026, 4, 1, 0, 5, tzinfo=UTC), "0.10"),
                ("acc-9", "e:nobody", times[1], datetime(2026, 3, 3, tzinfo=UTC), "0.20"),
            ],
        )
    usage = {"data": "usage_events", "format": "json", "period_field": "stored_at",
             "destinations": [webhook]}  # fmt: skip
    await run_job(pg, redis, s, "export", usage, APRIL_1)
    events = sink.accepted()[-1].json()
    assert [(e["request_id"], e["customer_id"], e["cost"]) for e in events] == [
        ("e:late", ids["home"], "0.05"),
        ("e:nobody", None, "0.20"),  # no customer holds acc-9: in only without criteria
    ]
    usage["customer_ids"] = [ids["home"]]
    await run_job(pg, redis, s, "export", usage, APRIL_1)
    assert [e["request_id"] for e in sink.accepted()[-1].json()] == ["e:late"]


async def test_a_failing_destination_is_retried_alone(
    pg: asyncpg.Pool, redis: Redis, sftp: SftpServer, sink: HttpSink, mailbox: SmtpSink
) -> None:
    await march(pg)
    sink.answer = lambda n, request: 503 if n == 1 else 200
    criteria = {
        "data": "invoices",
        "destinations": destinations(sftp, sink, key_ref=None, password_ref="ops-password"),
    }
    first = await run_job(pg, redis, settings(sftp, mailbox), "export", criteria, APRIL_1)
    assert (first.total, first.succeeded, first.failed) == (3, 1, 2)
    errors = {object_id: error for _, object_id, error in first.failed_items}
    assert set(errors) == {f"{FILE}#1:sftp", f"{FILE}#2:webhook"}
    assert "'ops-password' is not in TARIF_EXPORT_SECRETS" in errors[f"{FILE}#1:sftp"]
    assert "HTTP 503" in errors[f"{FILE}#2:webhook"]
    assert await delivered(pg) == [
        ("sftp", "failed", 1), ("webhook", "failed", 1), ("email", "delivered", 1)
    ]  # fmt: skip
    key = f"job-run:{first.run_id}"
    alert = await pg.fetchrow("SELECT * FROM alerts WHERE alert_key = $1", key)
    assert (alert["process"], alert["occurrences"]) == ("export", 2)
    logged = await pg.fetch(
        "SELECT object_id, cause FROM activity_log WHERE run_id = $1 ORDER BY id", first.run_id
    )
    assert [r["object_id"] for r in logged] == [f"{FILE}#1:sftp", f"{FILE}#2:webhook"]
    assert "sftp destination" in logged[0]["cause"]

    # the data fixed (the secret is set): a retry delivers what failed, and only that
    fixed = settings(sftp, mailbox, export_secrets={"hook": SECRET, "ops-password": "s3cret"})
    # (asked later, in May, the retry still covers the period of the run it retries: March)
    later = datetime(2026, 5, 3, tzinfo=UTC)
    retry = await run_job(pg, redis, fixed, "export", criteria, later, retry_of=first.run_id)
    assert (retry.total, retry.succeeded, retry.failed) == (2, 2, 0), retry
    assert (sftp.root / "exports" / FILE).exists()
    first_try, second_try = sink.received
    assert (first_try.status, second_try.status) == (503, 200)
    assert first_try.headers["webhook-id"] == second_try.headers["webhook-id"]
    assert len(mailbox.messages) == 1
    assert await delivered(pg) == [
        ("sftp", "delivered", 2), ("webhook", "delivered", 2), ("email", "delivered", 1)
    ]  # fmt: skip


async def test_a_wrong_host_key_is_refused(
    pg: asyncpg.Pool, redis: Redis, sftp: SftpServer, sink: HttpSink, mailbox: SmtpSink
) -> None:
    await march(pg)
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    criteria = {"data": "invoices", "destinations": destinations(sftp, sink, host_key=other)[:1]}
    outcome = await run_job(pg, redis, settings(sftp, mailbox), "export", criteria, APRIL_1)
    assert (outcome.succeeded, outcome.failed) == (0, 1)
    assert "HostKeyNotVerifiable" in outcome.failed_items[0][2]
    assert not (sftp.root / "exports" / FILE).exists()


@pytest.mark.slow
async def test_100k_rows_are_written_as_a_stream(pg: asyncpg.Pool, tmp_path: Path) -> None:
    await seed(pg)
    await customer(pg, 1)
    async with pg.acquire() as conn, conn.transaction():
        await ensure_partitions(conn, [datetime(2026, 3, 1, tzinfo=UTC)])
        await conn.execute(
            "INSERT INTO rated_events (account_id, request_id, kind, subscriber, service, rate,"
            " event_time, charged_at, units, rated_units, cost, currency)"
            " SELECT 'acc-1', 'e:' || n, 'event', '38640555001', 'voice', 'voice-std:38',"
            " '2026-03-01'::timestamptz + n * interval '20 seconds',"
            " '2026-03-01'::timestamptz + n * interval '20 seconds', 60, 60, 0.12, 'EUR'"
            " FROM generate_series(1, 100000) n"
        )
    criteria = ExportCriteria.model_validate(
        {"data": "usage_events", "destinations": [{"type": "webhook", "url": "http://x/"}]}
    )
    process = psutil.Process()
    before = process.memory_info().rss
    peak = before
    writing = asyncio.ensure_future(
        write_export(pg, criteria, date(2026, 3, 1), date(2026, 4, 1), tmp_path)
    )
    while not writing.done():
        peak = max(peak, process.memory_info().rss)
        await asyncio.sleep(0.02)
    file = await writing
    assert file.rows == 100_000
    assert file.size > 12_000_000
    # rows go to the file as they come (about 3 MB here); 100,000 rows held at once take ~90 MB
    assert peak - before < 40 * 1024 * 1024
    with file.path.open() as f:
        assert sum(1 for _ in f) == 100_001  # the header and every row
