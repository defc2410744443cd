"""A reminder's fee becomes owed as an invoice of its own: a bill of kind `now` holding one
`one_time` item (ledger `reminder_fees`, the level's tax or the profile's) is issued by the
billing library's own `issue_invoices`, dated the reminder's posting date and due on the
reminder's due date.

So the fee is posted as every invoice is (receivable against `revenue:reminder_fees` and the
tax payable, balanced), the profile's pending total grows by it, a payment pays it like any
invoice (the oldest first), its credit balance covers it, SEPA collects it, and the
reconciliation holds (bill total = invoice total, receivable = pending total) with nothing
special. The fee invoice takes the next number of the invoice series: it is an invoice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tarif_billing.issuing import BilledBill, IssueContext, issue_invoices
from tarif_billing.money import to_minor
from tarif_postgres import queries
from tarif_postgres.driver import TarifConnection

R = queries.load("reminders")
FEE_LEDGER = "reminder_fees"


class FeeNotIssued(Exception):
    """The fee's invoice could not be issued (the reason is the billing library's)."""


async def issue_fee(
    conn: TarifConnection,
    ctx: IssueContext,
    reminder: Mapping[str, Any],
    amount: Decimal,
    tax: str | None,
    posting_at: datetime,
    due_date: date,
) -> tuple[int, Decimal]:
    """Invoice a reminder's fee (in the caller's transaction); returns (invoice id, the fee as
    invoiced: rounded to the currency's decimals, before tax).
    FeeNotIssued when the invoice fails (the caller rolls back: nothing stays)."""
    profile = await conn.fetchrow(R.lock_fee_profile, reminder["billing_profile_id"])
    zone = ZoneInfo(profile["time_zone"])
    day = posting_at.astimezone(zone).date()
    start = datetime.combine(day, time(), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
    await conn.execute(R.ensure_fee_ledger)
    bill_id = await conn.fetchval(
        R.insert_fee_bill, profile["id"], profile["customer_id"], profile["currency"], start, end
    )
    net = to_minor(amount, ctx.decimals(profile["currency"]))
    await conn.execute(
        R.insert_fee_item,
        bill_id,
        f"reminder_fee:{reminder['id']}",
        f"Reminder fee (reminder {reminder['id']}, level {reminder['level']})",
        str(net),
        tax,
        FEE_LEDGER,
    )
    bill = BilledBill(
        bill_id,
        profile["id"],
        profile["customer_id"],
        profile["currency"],
        start,
        end,
        profile["time_zone"],
        profile["tax"],
        max((due_date - day).days, 0),
        profile["credit_balance"],
    )
    (issued,) = await issue_invoices(conn, [bill], replace(ctx, issued_at=posting_at))
    if issued.status == "failed":
        raise FeeNotIssued(f"the fee's invoice could not be issued: {issued.error}")
    return issued.invoice_id, net
