"""E-mail with attachments for the back office (invoices, reminders, exports), each message
logged in `email_log` under a key saying what it is for: a message sent under its key is never
sent again, a failed one is marked failed with its error (and an activity-log entry and alert)
and goes again on resend. The SMTP server is a party we do not own: tests run a real local one."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib
import asyncpg

from tarif_common.settings import Settings
from tarif_jobs.failures import record_failure
from tarif_jobs.runs import ItemRef
from tarif_postgres import queries

Q = queries.load("email")


class MailFailed(Exception):
    """The SMTP server refused the message or could not be reached."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime_type: str = "application/pdf"


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str | None = None
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)
    # a Message-ID of the sender's choosing (a receiver can tell a resent message); else new
    message_id: str | None = None


class Mailer:
    """Sends one message over SMTP; MailFailed on any refusal or network error. The notifier's
    e-mail channel sends through it too."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self._username, self._password = username, password
        self._starttls, self._timeout = starttls, timeout

    @classmethod
    def from_settings(cls, s: Settings) -> Mailer | None:
        """The mailer the settings configure (None without `TARIF_SMTP_HOST`)."""
        if not s.smtp_host:
            return None
        return cls(
            host=s.smtp_host,
            port=s.smtp_port,
            sender=s.mail_from,
            username=s.smtp_username,
            password=s.smtp_password,
            starttls=s.smtp_starttls,
            timeout=s.notify_timeout,
        )

    async def send(self, mail: Mail) -> str:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = mail.message_id or make_msgid(domain="tarif")
        message.set_content(mail.text)
        if mail.html is not None:
            message.add_alternative(mail.html, subtype="html")
        for a in mail.attachments:
            maintype, _, subtype = a.mime_type.partition("/")
            message.add_attachment(
                a.content, maintype=maintype, subtype=subtype, filename=a.filename
            )
        try:
            _, response = await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self._username,
                password=self._password,
                start_tls=self._starttls,
                use_tls=False,
                timeout=self._timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailFailed(f"smtp: {exc}") from exc
        return response


async def send_logged(
    pool: asyncpg.Pool,
    mailer: Mailer | None,
    key: str,
    kind: str,
    ref: ItemRef | None,
    mail: Mail,
    *,
    run_id: int | None = None,
) -> bool:
    """Send `mail` once under `key`: True if sent now, False if it was sent before or another
    sender holds it (a pending claim lasts 5 minutes). Raises MailFailed after marking the log
    row failed (without a mailer: failed, "no SMTP server")."""
    names = [a.filename for a in mail.attachments]
    log_id = await pool.fetchval(
        Q.claim_message,
        key,
        kind,
        ref.object_type if ref else None,
        ref.object_id if ref else None,
        mail.to,
        mail.subject,
        names,
        run_id,
    )
    if log_id is None:
        return False
    try:
        if mailer is None:
            raise MailFailed("no SMTP server is configured (TARIF_SMTP_HOST)")
        response = await mailer.send(mail)
    except MailFailed as exc:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(Q.mark_failed, log_id, str(exc))
            await record_failure(
                conn,
                f"email.{kind}",
                ItemRef("email", str(log_id)),
                f"e-mail {key!r} to {mail.to} failed: {exc}",
                cause="the SMTP server refused the message or could not be reached",
                run_id=run_id,
                alert_key=f"email:{kind}",
            )
        raise
    await pool.execute(Q.mark_sent, log_id, response)
    return True
