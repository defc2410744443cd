"""Adjustments of bills and their items, and credit notes.

- On a bill not billed yet (active or inactive) an adjustment is an item of the bill: a credit
  (amount < 0) or a debit (> 0), with its own tax if given (the tax's rate is applied on the
  invoice like any line's), else the profile's.
- On a billed bill the invoice is issued and never changes: a credit becomes a **credit note**
  that references the invoice (its own gapless series), lowers what is due on it and holds any
  excess as credit balance. A debit there is refused: it goes on the active bill.
- A closed bill is paid and settled: adjusting it is refused (a refund is a payment).
Idempotent by request id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tarif_billing import journal
from tarif_billing.invoicing import InvoiceNotIssuable, Item, Tax, draft_invoice, tax_names
from tarif_billing.issuing import IssueContext, store_lines
from tarif_billing.postings import Posting, post
from tarif_common.errors import Conflict, InvalidRequest, NotFound
from tarif_postgres import queries
from tarif_postgres.driver import TarifConnection
from tarif_postgres.queries import arrays

B = queries.load("bills")
Q = queries.load("invoices")
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class AdjustmentIn:
    request_id: str
    bill_id: int
    amount: Decimal  # < 0 credits the customer, > 0 charges them
    reason: str
    bill_item_id: int | None = None
    balance_group_id: int | None = None
    tax: str | None = None
    tax_provider: str | None = None
    ledger: str | None = None
    requested_by: str = "system"


@dataclass(frozen=True, slots=True)
class AdjustmentOutcome:
    id: int
    bill_id: int
    amount: Decimal
    credit_note_id: int | None
    credit_note_number: str | None
    replayed: bool


async def adjust_bill(
    conn: TarifConnection, adjustment: AdjustmentIn, ctx: IssueContext
) -> AdjustmentOutcome:
    """Record `adjustment` in the caller's transaction (see the module docstring)."""
    if adjustment.amount == 0:
        raise InvalidRequest("amount", "must not be zero")
    previous = await conn.fetchrow(B.adjustment_by_request, adjustment.request_id)
    if previous is not None:
        if (previous["bill_id"], previous["amount"]) != (adjustment.bill_id, adjustment.amount):
            raise Conflict(f"request id {adjustment.request_id!r} was used for another adjustment")
        return await _replay(conn, previous)
    bill = await conn.fetchrow(B.lock_bill, adjustment.bill_id)
    if bill is None:
        raise NotFound(f"bill {adjustment.bill_id} not found")
    if bill["status"] == "closed":
        raise Conflict(f"bill {bill['id']} is closed (paid): it cannot be adjusted")
    await _check_references(conn, adjustment, bill)
    row = await conn.fetchrow(
        B.insert_bill_adjustment,
        adjustment.request_id,
        adjustment.bill_id,
        adjustment.bill_item_id,
        adjustment.balance_group_id,
        adjustment.amount,
        adjustment.reason,
        adjustment.tax,
        adjustment.tax_provider,
        adjustment.ledger,
        adjustment.requested_by,
    )
    if bill["status"] in ("active", "inactive"):
        await conn.fetchval(
            B.insert_item,
            bill["id"],
            f"adjustment:bill:{row['id']}",
            "adjustment",
            f"Adjustment: {adjustment.reason}",
            adjustment.balance_group_id,
            adjustment.amount,
            adjustment.tax,
            adjustment.ledger,
        )
        return AdjustmentOutcome(row["id"], bill["id"], adjustment.amount, None, None, False)
    if adjustment.amount > 0:
        raise Conflict(
            f"bill {bill['id']} is billed: its invoice cannot grow; "
            "put the debit on the active bill"
        )
    if bill["invoice_id"] is None or bill["invoice_status"] == "failed":
        raise Conflict(f"bill {bill['id']} has no issued invoice to credit")
    note_id, number = await credit_note(
        conn,
        bill,
        [
            Item(
                0,
                "adjustment",
                adjustment.reason,
                -adjustment.amount,
                False,
                adjustment.tax,
                adjustment.ledger,
            )
        ],
        ctx,
    )
    await conn.execute(B.link_credit_note, row["id"], note_id)
    return AdjustmentOutcome(row["id"], bill["id"], adjustment.amount, note_id, number, False)


async def _check_references(
    conn: TarifConnection, adjustment: AdjustmentIn, bill: Mapping[str, Any]
) -> None:
    if adjustment.bill_item_id is not None and not await conn.fetchrow(
        B.item_of_bill, bill["id"], adjustment.bill_item_id
    ):
        raise NotFound(f"bill {bill['id']} has no item {adjustment.bill_item_id}")
    if adjustment.balance_group_id is not None and not await conn.fetchrow(
        B.group_of_profile, bill["billing_profile_id"], adjustment.balance_group_id
    ):
        raise NotFound(
            f"balance group {adjustment.balance_group_id} is not billed to this bill's profile"
        )
    if adjustment.tax is not None and not await conn.fetchrow(Q.tax_by_name, adjustment.tax):
        raise NotFound(f"tax {adjustment.tax!r} not found")
    if adjustment.ledger is not None and not await conn.fetchval(
        Q.ledger_exists, adjustment.ledger
    ):
        raise NotFound(f"ledger {adjustment.ledger!r} not found")


async def _replay(conn: TarifConnection, row: Mapping[str, Any]) -> AdjustmentOutcome:
    number = None
    if row["credit_note_id"] is not None:
        note = await conn.fetchrow(Q.invoice_by_id, row["credit_note_id"])
        number = note["number"] if note else None
    return AdjustmentOutcome(
        row["id"], row["bill_id"], row["amount"], row["credit_note_id"], number, True
    )


async def credit_note(
    conn: TarifConnection, bill: Mapping[str, Any], items: list[Item], ctx: IssueContext
) -> tuple[int, str]:
    """Issue a credit note of `items` (positive amounts credited) against the bill's invoice."""
    taxes = {
        r["name"]: Tax(r["name"], r["rate"], r["category"], r["exemption_reason"])
        for r in await conn.fetch(Q.all_taxes)
    }
    invoice = await conn.fetchrow(Q.invoice_by_id, bill["invoice_id"])
    decimals = ctx.decimals(bill["currency"])
    try:
        draft = draft_invoice(
            items,
            taxes,
            profile_tax=bill["profile_tax"] or ctx.default_tax,
            credit_balance=ZERO,
            seller=ctx.seller,
            decimals=decimals,
        )
    except InvoiceNotIssuable as exc:
        raise Conflict(f"the credit note cannot be issued: {exc}") from None
    await conn.execute(Q.ensure_series, ctx.credit_note_series)
    seq = await conn.fetchval(Q.allocate_numbers, ctx.credit_note_series, 1)
    number = f"{ctx.credit_note_series}-{seq:06d}"
    issue_date = ctx.issued_at.astimezone(ZoneInfo(bill["time_zone"])).date()
    note: list[Any] = [
        "credit_note",
        bill["id"],
        bill["billing_profile_id"],
        bill["customer_id"],
        invoice["id"],
        ctx.credit_note_series,
        seq,
        number,
        "billing",
        None,
        bill["currency"],
        decimals,
        issue_date,
        issue_date,
        invoice["period_start"],
        invoice["period_end"],
        invoice["seller"],
        invoice["buyer"],
        draft.net_total,
        draft.tax_total,
        draft.total,
        ZERO,
        ZERO,
        None,
        json.dumps([f"Corrects invoice {invoice['number']}"]),
    ]
    (row,) = await conn.fetch(Q.insert_invoices, *arrays([note], 25))
    note_id: int = row["id"]
    await store_lines(conn, [(note_id, draft)])
    await conn.execute(Q.settle_credit_note, note_id)
    await conn.execute(Q.mark_issued, [note_id])
    applied = min(draft.total, max(invoice["amount_due"], ZERO))
    excess = draft.total - applied
    if applied:
        await conn.execute(Q.credit_invoice, invoice["id"], applied)
    profile = bill["billing_profile_id"]
    legs = journal.invoice_legs(profile, draft.lines, tax_names(draft), sign=-1)
    postings = [Posting("credit_note", note_id, None, bill["currency"], legs)]
    if excess:
        postings.append(
            Posting(
                "credit_note",
                note_id,
                None,
                bill["currency"],
                journal.excess_credit_legs(profile, excess),
            )
        )
    await post(conn, postings)
    await conn.execute(Q.move_profile_money, [profile], [-applied], [excess])
    return note_id, number
