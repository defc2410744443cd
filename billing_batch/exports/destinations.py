"""Where an export's file goes: an e-mail (the file attached, words from a mail template), an
SFTP server (asyncssh), or a webhook (a POST signed as the notifier's webhooks).

Each `send_*` delivers one file and returns what the other side answered, or raises
DeliveryFailed with a message an operator can act on. Secrets come from the settings by the
reference the criteria give; none is ever logged or stored with a delivery.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import asyncpg
import asyncssh
import httpx
import jinja2

from billing_batch.exports.files import ExportFile
from tarif_common import signing
from tarif_common.settings import Settings
from tarif_jobs.mail import Attachment, Mail, Mailer, MailFailed, send_logged
from tarif_jobs.report_criteria import (
    EmailDestination,
    ExportCriteria,
    SftpDestination,
    WebhookDestination,
)
from tarif_jobs.runs import ItemRef
from tarif_postgres import queries

Q = queries.load("reports")

# The words of an export e-mail when the operator stored no `<template>.email` template.
DEFAULT_TEMPLATE = """Subject: Tarif export {{ file_name }}
Hello,

Attached: {{ data | replace("_", " ") }} from {{ first_day }} to {{ last_day }} ({{ time_zone }}),
{{ rows }} rows as {{ format | upper }} ({{ bytes }} bytes).
"""


class DeliveryFailed(Exception):
    """The destination refused the file or could not be reached."""


async def send_email(
    pool: asyncpg.Pool,
    settings: Settings,
    dest: EmailDestination,
    criteria: ExportCriteria,
    file: ExportFile,
    period: tuple[date, date],
    *,
    key: str,
    delivery_id: int,
    run_id: int | None,
) -> str:
    """Send the file attached, logged in the e-mail log under the export's key (a message sent
    under it is not sent again)."""
    if file.size > settings.export_mail_max_bytes:
        raise DeliveryFailed(
            f"{file.name} is {file.size} bytes, more than TARIF_EXPORT_MAIL_MAX_BYTES"
            f" ({settings.export_mail_max_bytes}): send it by SFTP or webhook"
        )
    subject, text = await _render(pool, dest.template, _mail_context(criteria, file, period))
    # an e-mail is built whole in memory; the size limit above bounds it
    mail = Mail(
        to=", ".join(dest.to),
        subject=subject,
        text=text,
        attachments=(Attachment(file.name, file.path.read_bytes(), file.media_type),),
    )
    ref = ItemRef("export_delivery", str(delivery_id))
    try:
        sent = await send_logged(
            pool, Mailer.from_settings(settings), key, "export", ref, mail, run_id=run_id
        )
    except MailFailed as exc:
        raise DeliveryFailed(str(exc)) from exc
    return "smtp: sent" if sent else "smtp: sent before under the same key"


async def _render(pool: asyncpg.Pool, template: str, context: dict[str, Any]) -> tuple[str, str]:
    body = await pool.fetchval(Q.export_mail_template, f"{template}.email")
    if body is None and template != "export":
        raise DeliveryFailed(f"no mail template {template}.email (reference data)")
    env = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined)
    try:
        text = env.from_string(body or DEFAULT_TEMPLATE).render(context)
    except jinja2.TemplateError as exc:
        raise DeliveryFailed(f"mail template {template}.email: {exc}") from exc
    first, _, rest = text.partition("\n")
    if not first.startswith("Subject:"):
        raise DeliveryFailed(f"mail template {template}.email must start with 'Subject: ...'")
    return first.removeprefix("Subject:").strip(), rest.lstrip("\n")


def _mail_context(
    criteria: ExportCriteria, file: ExportFile, period: tuple[date, date]
) -> dict[str, Any]:
    first_day, end = period
    last_day = end - timedelta(days=1)
    return {
        "file_name": file.name,
        "data": criteria.data,
        "format": criteria.format,
        "period_field": criteria.date_field,
        "time_zone": criteria.time_zone,
        "first_day": first_day,
        "last_day": last_day,
        "rows": file.rows,
        "bytes": file.size,
    }


async def send_sftp(settings: Settings, dest: SftpDestination, file: ExportFile) -> str:
    """Upload as `<name>.part`, then rename: the file appears whole or not at all (a file of the
    same name, from an upload whose result was lost, is replaced)."""
    options: dict[str, Any] = {
        "port": dest.port,
        "username": dest.user,
        "known_hosts": _known_hosts(settings, dest),
        "agent_path": None,
        "connect_timeout": settings.export_timeout,
    }
    if dest.password_ref is not None:
        options |= {"password": _secret(settings, dest.password_ref), "client_keys": None}
    else:
        assert dest.key_ref is not None
        key_file = settings.export_sftp_keys.get(dest.key_ref)
        if key_file is None:
            raise DeliveryFailed(f"key_ref {dest.key_ref!r} is not in TARIF_EXPORT_SFTP_KEYS")
        options |= {"client_keys": [str(key_file)], "password": None}
    remote = posixpath.join(dest.path, file.name)
    try:
        async with (
            asyncio.timeout(settings.export_timeout),
            asyncssh.connect(dest.host, **options) as conn,
            conn.start_sftp_client() as sftp,
        ):
            await sftp.put(str(file.path), remote + ".part")
            await sftp.posix_rename(remote + ".part", remote)
    except (asyncssh.Error, OSError, TimeoutError) as exc:
        raise DeliveryFailed(f"sftp {dest.target()}: {type(exc).__name__}: {exc}") from exc
    return f"sftp: {remote} ({file.size} bytes)"


def _known_hosts(settings: Settings, dest: SftpDestination) -> Any:
    if dest.host_key is not None:
        try:
            key = asyncssh.import_public_key(dest.host_key)
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise DeliveryFailed(f"host_key of {dest.host} is not a public key: {exc}") from exc
        return ([key], [], [])
    if settings.export_sftp_known_hosts is not None:
        return str(settings.export_sftp_known_hosts)
    return ()  # asyncssh's default: ~/.ssh/known_hosts


async def send_webhook(
    settings: Settings, dest: WebhookDestination, file: ExportFile, *, delivery_id: int
) -> str:
    """POST the file as the body, signed (Standard Webhooks). The `webhook-id` is the
    delivery's: the same on every attempt, so a receiver can drop a repeat."""
    if dest.secret_ref is not None:
        secret = _secret(settings, dest.secret_ref)
    elif settings.webhook_secret:
        secret = settings.webhook_secret
    else:
        raise DeliveryFailed("no signing secret: set secret_ref or TARIF_WEBHOOK_SECRET")
    msg_id = f"tarif-export-{delivery_id}"
    headers = signing.headers_of_chunks(secret, msg_id, file.chunks())
    headers |= {
        "content-type": file.media_type,
        "content-length": str(file.size),
        "content-disposition": f'attachment; filename="{file.name}"',
        "x-tarif-export-sha256": file.sha256,
    }
    try:
        async with httpx.AsyncClient(timeout=settings.export_timeout) as client:
            response = await client.post(str(dest.url), content=_body(file), headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"webhook {dest.url}: {type(exc).__name__}: {exc}") from exc
    if not response.is_success:
        raise DeliveryFailed(
            f"webhook {dest.url}: HTTP {response.status_code} {response.text[:200]}"
        )
    return f"webhook: HTTP {response.status_code}"


async def _body(file: ExportFile) -> AsyncIterator[bytes]:
    for chunk in file.chunks():
        yield chunk


def _secret(settings: Settings, ref: str) -> str:
    secret = settings.export_secrets.get(ref)
    if secret is None:
        raise DeliveryFailed(f"secret {ref!r} is not in TARIF_EXPORT_SECRETS")
    return secret.get_secret_value()
