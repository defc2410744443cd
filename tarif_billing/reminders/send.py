"""The send action: each issued reminder is e-mailed (its level's text in the customer's
language, `texts`) with the invoices the action names attached as PDF, through
`tarif_jobs.mail.send_logged` under the key `reminder:<id>:send:<n>` (the n-th sending).

A reminder may be sent up to `max_sends` times, again only `resend_after` its last sending. The
reminder row is locked while it is sent (`SKIP LOCKED`: two runs never send it at once) and its
count moves in the same transaction; the e-mail log keeps each key's message once, so a run that
crashed after sending finds it sent and only counts it. A failed message is marked failed in the
e-mail log (with an activity-log entry and an alert), the reminder keeps the error, and the
item fails; a retry (or the next run) sends it.

The recipient is the customer's `billing` contact's e-mail, else the customer's e-mail."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tarif_billing.documents import load_document
from tarif_billing.reminders.date_formula import parse
from tarif_billing.reminders.issue import failed
from tarif_billing.reminders.options import SendOptions
from tarif_billing.reminders.scope import Env, Scope
from tarif_billing.reminders.texts import LevelText, choose, render_mail
from tarif_billing.render import render
from tarif_jobs.mail import Attachment, Mail, send_logged
from tarif_jobs.runs import ItemRef, Items
from tarif_postgres import queries
from tarif_postgres.driver import TarifConnection

R = queries.load("reminders")


async def send_reminders(
    env: Env, scope: Scope, options: SendOptions, items: Items, automation_id: int | None
) -> None:
    resend_after = parse(options.resend_after)
    sql, extra = scope.compose(R.send_candidates, 6)
    after = 0
    while not env.stop():
        async with env.pool.acquire() as conn:
            rows = await conn.fetch(
                sql,
                after,
                list(scope.terms),
                scope.only_reminders,
                options.max_sends,
                env.chunk,
                *extra,
            )
        if not rows:
            return
        after = rows[-1]["id"]
        due = [
            r
            for r in rows
            if r["last_sent_at"] is None
            or resend_after.apply(env.today_at(r["last_sent_at"], r["time_zone"]))
            <= env.today(r["time_zone"])
        ]
        if due:
            await items.add_total(len(due))
        for r in due:
            if env.stop():
                return
            try:
                await _send(env, r["id"], r["sent_count"], options)
            except Exception as exc:
                await failed(env, items, r["id"], exc, "the reminder could not be sent")
                continue
            await items.succeeded()


async def _send(env: Env, reminder_id: int, sent: int, options: SendOptions) -> None:
    async with env.pool.acquire() as conn, conn.transaction():
        if await conn.fetchval(R.lock_sendable, reminder_id, sent) is None:
            return  # sent meanwhile, or being sent by another run
        mail = await reminder_mail(conn, env, reminder_id, options.attach)
        await send_logged(
            env.pool,
            env.mailer,
            f"reminder:{reminder_id}:send:{sent + 1}",
            "reminder",
            ItemRef("reminder", str(reminder_id)),
            mail,
            run_id=env.run_id,
        )
        await conn.execute(R.mark_sent, reminder_id, env.process_now, sent + 1)


async def reminder_mail(conn: TarifConnection, env: Env, reminder_id: int, attach: str) -> Mail:
    """The e-mail of a reminder: subject and text of its level in the customer's language, the
    invoices `attach` names (overdue, all unpaid, none) as PDF."""
    facts = await conn.fetchrow(R.mail_facts, reminder_id)
    lines = [dict(r) for r in await conn.fetch(R.lines_of, reminder_id)]
    texts = {
        r["language"]: LevelText(r["language"], r["subject"], r["beginning_text"], r["ending_text"])
        for r in await conn.fetch(R.level_texts, facts["terms_code"], facts["level"])
    }
    text = choose(texts, [facts["language"], facts["default_language"]])
    subject, body = render_mail(text, mail_context(facts, lines, env))
    if attach == "overdue":
        wanted = [(x["invoice_id"], x["number"]) for x in lines if x["kind"] == "overdue"]
    elif attach == "all":
        unpaid = await conn.fetch(R.unpaid_of_profile, facts["billing_profile_id"])
        wanted = [(r["id"], r["number"]) for r in unpaid]
    else:
        wanted = []
    attachments = []
    for invoice_id, number in wanted:
        document = await load_document(conn, invoice_id)
        attachments.append(Attachment(f"{number}.pdf", render(document, "pdf")))
    return Mail(
        to=facts["billing_email"] or facts["email"],
        subject=subject,
        text=body,
        attachments=tuple(attachments),
    )


def mail_context(facts: Mapping[str, Any], lines: list[dict[str, Any]], env: Env) -> dict[str, Any]:
    """What a level's templates see (texts.py lists it)."""
    fee = facts["fee_total"] if facts["fee_total"] is not None else Decimal(0)
    overdue = facts["overdue_total"]
    name = " ".join(p for p in (facts["first_name"], facts["last_name"]) if p)
    return {
        "customer": {
            "name": facts["organisation"] or name,
            "first_name": facts["first_name"],
            "last_name": facts["last_name"],
            "organisation": facts["organisation"] or "",
        },
        "reminder": {
            "number": str(facts["id"]),
            "level": facts["level"],
            "document_date": facts["document_date"].isoformat(),
            "due_date": facts["due_date"].isoformat(),
            "currency": facts["currency"],
            "overdue_total": str(overdue),
            "fee": str(fee),
            "fee_invoice": facts["fee_number"] or "",
            "total_due": str(overdue + fee),
        },
        "lines": [
            {
                "number": x["number"],
                "issue_date": x["issue_date"].isoformat() if x["issue_date"] else "",
                "due_date": x["due_date"].isoformat(),
                "total": x["total"],
                "amount_due": x["amount_due"],
                "level": x["level"],
                "kind": x["kind"],
                "on_hold": x["on_hold"],
            }
            for x in lines
        ],
        "seller": {"name": env.issue.seller.name, "email": env.issue.seller.email},
    }
