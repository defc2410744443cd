"""The issue action: each draft reminder is issued in its own transaction (locked, `SKIP LOCKED`
so two runs never issue it twice): its dates are fixed (posting and document dates replaced by
the issue date if the action says so, the due date computed again from a new document date),
its level's fee is invoiced (`fees`), and it becomes `issued`.

A draft whose overdue invoices were all paid meanwhile is cancelled instead. A reminder that
cannot be issued (its fee's invoice fails: the seller is not set, a tax is unknown) stays a
draft with the error (`last_error`), is reported as a failed item, and is issued by a retry
once the data is fixed."""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

from tarif_billing.reminders.fees import issue_fee
from tarif_billing.reminders.levels import TermsRules
from tarif_billing.reminders.options import IssueOptions
from tarif_billing.reminders.scope import Env, Scope
from tarif_billing.reminders.terms import load_terms
from tarif_jobs.runs import ItemRef, Items
from tarif_postgres import queries
from tarif_postgres.driver import TarifConnection

R = queries.load("reminders")
ZERO = Decimal(0)


async def issue_reminders(
    env: Env, scope: Scope, options: IssueOptions, items: Items, automation_id: int | None
) -> None:
    async with env.pool.acquire() as conn:
        rules = await load_terms(conn)
    sql, extra = scope.compose(R.issue_candidates, 5)
    after = 0
    while not env.stop():
        async with env.pool.acquire() as conn:
            rows = await conn.fetch(
                sql, after, list(scope.terms), scope.only_reminders, env.chunk, *extra
            )
        if not rows:
            return
        after = rows[-1]["id"]
        await items.add_total(len(rows))
        for row in rows:
            if env.stop():
                return
            try:
                async with env.pool.acquire() as conn, conn.transaction():
                    await _issue(conn, row["id"], rules, options, env)
            except Exception as exc:
                await failed(env, items, row["id"], exc, "the reminder could not be issued")
                continue
            await items.succeeded()


async def _issue(
    conn: TarifConnection,
    reminder_id: int,
    rules: dict[str, TermsRules],
    options: IssueOptions,
    env: Env,
) -> None:
    row = await conn.fetchrow(R.lock_draft_reminder, reminder_id)
    if row is None:
        return  # issued, cancelled, or being issued by another run
    if await conn.fetchval(R.overdue_still_due, reminder_id) <= 0:
        await conn.fetchval(
            R.cancel_draft, reminder_id, env.process_now, "its overdue invoices were paid"
        )
        return
    today = env.process_now.astimezone(ZoneInfo(row["time_zone"])).date()
    rule = rules[row["terms_code"]].rule(row["level"])
    document_date, due_date = row["document_date"], row["due_date"]
    if options.replace_document_date:
        document_date, due_date = today, rule.due.apply(today)
    posting_date, posting_at = row["posting_date"], row["created_at"]
    if options.replace_posting_date:
        posting_date, posting_at = today, env.process_now
    fee, fee_invoice = ZERO, None
    if rule.fee_amount > 0 and rule.fee_currency == row["currency"]:
        fee_invoice, fee = await issue_fee(
            conn, env.issue, row, rule.fee_amount, rule.fee_tax, posting_at, due_date
        )
    await conn.execute(
        R.mark_issued,
        reminder_id,
        env.process_now,
        document_date,
        posting_date,
        due_date,
        str(fee),
        fee_invoice,
    )


async def failed(
    env: Env, items: Items, reminder_id: int, error: BaseException, cause: str
) -> None:
    """Mark the reminder failed where it lives (its last error) and report the item."""
    async with env.pool.acquire() as conn:
        await conn.execute(R.mark_reminder_failed, reminder_id, f"{cause}: {error}")
    await items.failed(ItemRef("reminder", str(reminder_id)), error, cause=cause)
