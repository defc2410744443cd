"""The e-mail of an issued invoice or credit note, built in one place for the invoicing job and
the admin API (send now, resend from the e-mail log).

- **To**: the e-mail of the customer's contact tagged `billing` (the one onboarding records for
  invoices), else the customer's own e-mail. Payment information holds no e-mail, and the
  invoice's buyer e-mail is the customer's as it was at issue: an address changed since is the
  one to write to.
- **Words**: the Jinja2 template `invoice_issued.email` (first line `Subject: ...`, then the
  text), looked up as the notifier's are: Postgres (`PUT /v1/mail-templates/invoice_issued.email`),
  then `TARIF_TEMPLATES_DIR/invoice_issued.email.j2`, then the built-in one. It sees `doc` (the
  JSON form of the document, docs/invoices.md: every amount already text), `attachment` (the
  PDF's file name) and `facturx` (whether the PDF is a Factur-X one).
- **Attachment**: the Factur-X PDF (PDF/A-3 with its EN 16931 XML), or the plain PDF when the
  document's XML does not pass the Factur-X schema; named after the number (`INV-000042.pdf`).
- **Once**: the message is logged under `invoice:<id>:issued` (`tarif_jobs.mail.send_logged`), so
  it is sent once whoever sends it; a forced resend is a new message of its own key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import asyncpg
import jinja2

from tarif_billing.document import Document
from tarif_billing.documents import load_document
from tarif_billing.render import render
from tarif_billing.render.json_form import document_dict
from tarif_common.errors import Conflict, NotFound, TarifError
from tarif_common.results import Result
from tarif_common.settings import Settings
from tarif_jobs.mail import Attachment, Mail, Mailer, send_logged
from tarif_jobs.runs import ItemRef
from tarif_postgres import queries
from tarif_postgres.driver import TarifConnection

log = logging.getLogger(__name__)
Q = queries.load("invoice_emails")

KIND = "invoice"  # email_log.kind of invoices and credit notes alike
TEMPLATE = "invoice_issued.email"  # its name in mail_templates; `.j2` on disk
Outcome = Literal["sent", "sent_before", "in_flight"]


class MailUnavailable(TarifError):
    """The mail server refused the message or could not be reached; it is logged as failed."""

    result = Result.UNAVAILABLE


class TemplateBroken(Conflict):
    """The mail template cannot be rendered: fix it (PUT /v1/mail-templates/<name>)."""


def issued_key(invoice_id: int) -> str:
    """The key of an invoice's e-mail: sent once, by the job or the API."""
    return f"invoice:{invoice_id}:issued"


def again_key(invoice_id: int, at: datetime) -> str:
    """The key of an e-mail sent again on purpose (`force`): a message of its own."""
    return f"invoice:{invoice_id}:again:{at.astimezone(UTC):%Y%m%dT%H%M%S%f}"


def invoice_ref(invoice_id: int) -> ItemRef:
    return ItemRef("invoice", str(invoice_id))


@dataclass(frozen=True, slots=True)
class InvoicePdf:
    filename: str
    content: bytes
    facturx: bool


def invoice_pdf(document: Document) -> InvoicePdf:
    """The Factur-X PDF, else (its XML refused by the Factur-X schema) the plain PDF."""
    filename = f"{document.number}.pdf"
    try:
        return InvoicePdf(filename, render(document, "facturx"), True)
    except ValueError as exc:
        log.warning("invoice_mail.plain_pdf", extra={"number": document.number, "error": str(exc)})
        return InvoicePdf(filename, render(document, "pdf"), False)


class InvoiceMails:
    """Builds invoice e-mails with one set of templates (read once per run or request)."""

    def __init__(self, templates_dir: Path | None, stored: Mapping[str, str]) -> None:
        loaders: list[jinja2.BaseLoader] = [jinja2.DictLoader(dict(stored))]
        if templates_dir is not None:
            loaders.append(jinja2.FileSystemLoader(templates_dir))
        loaders.append(jinja2.PackageLoader("tarif_billing", "mail_templates"))
        self._env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=False,  # plain text
            undefined=jinja2.StrictUndefined,  # a typo in a template fails loudly, not blank
            keep_trailing_newline=True,
        )

    @classmethod
    async def load(cls, conn: TarifConnection | asyncpg.Pool, settings: Settings) -> InvoiceMails:
        """With the operator's template from Postgres, if there is one."""
        body = await conn.fetchval(Q.stored_template, TEMPLATE)
        return cls(settings.templates_dir, {f"{TEMPLATE}.j2": body} if body else {})

    def words(self, document: Document, pdf: InvoicePdf) -> tuple[str, str]:
        """(subject, text) of the document's e-mail; TemplateBroken if the template fails."""
        try:
            text = self._env.get_template(f"{TEMPLATE}.j2").render(
                doc=document_dict(document), attachment=pdf.filename, facturx=pdf.facturx
            )
        except jinja2.TemplateError as exc:
            raise TemplateBroken(f"mail template {TEMPLATE}: {exc}") from exc
        first, _, body = text.partition("\n")
        if not first.startswith("Subject:"):
            raise TemplateBroken(f"mail template {TEMPLATE} must start with 'Subject: ...'")
        return first.removeprefix("Subject:").strip(), body.lstrip("\n")

    async def build(self, conn: TarifConnection, invoice_id: int) -> Mail:
        """The e-mail of an issued invoice: NotFound, or Conflict for a failed one."""
        document = await load_document(conn, invoice_id)
        to = await conn.fetchval(Q.invoice_recipient, invoice_id)
        if not to:
            raise NotFound(f"invoice {invoice_id} has no customer e-mail to send to")
        pdf = invoice_pdf(document)
        subject, text = self.words(document, pdf)
        return Mail(to, subject, text, attachments=(Attachment(pdf.filename, pdf.content),))


async def send_invoice(
    pool: asyncpg.Pool,
    mailer: Mailer | None,
    mails: InvoiceMails,
    invoice_id: int,
    *,
    key: str | None = None,
    run_id: int | None = None,
) -> Outcome:
    """Send the invoice's e-mail under `key` (its `issued_key` by default), once: `sent` now,
    `sent_before`, or `in_flight` (another sender holds it now). Raises MailFailed (logged as
    failed, with its alert), NotFound, Conflict (a failed invoice), TemplateBroken."""
    async with pool.acquire() as conn:
        mail = await mails.build(conn, invoice_id)
    key = key or issued_key(invoice_id)
    sent = await send_logged(pool, mailer, key, KIND, invoice_ref(invoice_id), mail, run_id=run_id)
    await pool.execute(Q.mark_emailed, invoice_id, issued_key(invoice_id))
    if sent:
        return "sent"
    row = await pool.fetchrow(Q.message_by_key, key)
    return "sent_before" if row is not None and row["status"] == "sent" else "in_flight"


async def issued_status(pool: asyncpg.Pool | TarifConnection, invoice_id: int) -> str | None:
    """The e-mail log status of the invoice's e-mail (None: never tried)."""
    row = await pool.fetchrow(Q.message_by_key, issued_key(invoice_id))
    return None if row is None else str(row["status"])
