"""Issuing the invoices of billed bills, set-based, inside the caller's transaction.

For a batch of bills this reads their items, the taxes and the buyers once, drafts each invoice
(`invoicing.draft_invoice`), takes a block of gapless numbers from the series' counter row (locked
only from here to the commit, so concurrent runs wait briefly, never interleave numbers), writes
the invoices, their lines and VAT, freezes them, posts the journal, moves the profiles' pending
total and credit balance, and transfers a hierarchy member's invoice to the owner's active bill.
An invoice that cannot be issued is stored as `failed` with the reason, without a number.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tarif_billing import journal
from tarif_billing.document import Party
from tarif_billing.invoicing import (
    TRANSFER_TAX,
    Draft,
    InvoiceNotIssuable,
    Item,
    Tax,
    draft_invoice,
    tax_names,
)
from tarif_billing.opening import open_bills
from tarif_billing.parties import buyer_party
from tarif_billing.postings import Posting, post
from tarif_postgres import queries
from tarif_postgres.driver import TarifConnection
from tarif_postgres.queries import arrays

log = logging.getLogger(__name__)
Q = queries.load("invoices")
B = queries.load("bills")
ZERO = Decimal(0)
_PARTY_FIELDS = tuple(f.name for f in fields(Party))


@dataclass(frozen=True, slots=True)
class IssueContext:
    """What every invoice of a run shares."""

    seller: Party
    series: str
    default_tax: str | None
    payment_terms_days: int
    decimals: Callable[[str], int]
    issued_at: datetime  # the run's "process now" time: the issue date in the profile's zone
    credit_note_series: str = "CN"


@dataclass(frozen=True, slots=True)
class BilledBill:
    """A bill that just went to billing, with what its invoice needs of its profile."""

    bill_id: int
    profile_id: int
    customer_id: int
    currency: str
    period_start: datetime
    period_end: datetime
    time_zone: str
    tax: str | None
    payment_terms_days: int | None
    credit_balance: Decimal
    invoice_id: int | None = None  # a failed invoice being made again


@dataclass(slots=True)
class Issued:
    bill_id: int
    invoice_id: int
    number: str | None
    status: str  # billing, closed, failed
    error: str | None = None
    total: Decimal = ZERO
    amount_due: Decimal = ZERO


@dataclass(slots=True)
class _Prepared:
    bill: BilledBill
    draft: Draft | None
    error: str | None
    buyer: Party | None
    issue_date: date
    due_date: date
    period: tuple[date, date]
    owner_profile: int | None
    seq: int | None = None
    number: str | None = None
    transferred: Decimal = ZERO
    notes: list[str] = field(default_factory=list)


async def issue_invoices(
    conn: TarifConnection, bills: Sequence[BilledBill], ctx: IssueContext, *, preview: bool = False
) -> list[Issued]:
    """Issue (or record as failed) the invoice of each bill; nothing due: no invoice. A preview
    takes no number (its transaction is rolled back by the caller)."""
    if not bills:
        return []
    items = await _items(conn, [b.bill_id for b in bills])
    taxes = {
        r["name"]: Tax(r["name"], r["rate"], r["category"], r["exemption_reason"])
        for r in await conn.fetch(Q.all_taxes)
    }
    customers = list({b.customer_id for b in bills})
    buyers = {r["id"]: r for r in await conn.fetch(Q.buyers, customers)}
    owners = {
        r["customer_id"]: r["billing_profile_id"]
        for r in await conn.fetch(Q.hierarchy_owners, customers)
    }
    prepared: list[_Prepared] = []
    nothing_due: list[BilledBill] = []
    for bill in bills:
        bill_items = items.get(bill.bill_id, [])
        if not any(not i.informational for i in bill_items) and bill.invoice_id is None:
            nothing_due.append(bill)
            continue
        prepared.append(
            _prepare(bill, bill_items, taxes, buyers.get(bill.customer_id), owners, ctx)
        )
    if prepared:
        await conn.execute(Q.ensure_series, ctx.series)
    await _number(conn, [p for p in prepared if p.draft is not None], ctx.series, preview)
    issued = await _store(conn, prepared, ctx)
    await _tax_items(conn, prepared)
    await _post(conn, prepared, issued)
    await _transfer(conn, prepared, issued, ctx)
    settled = [i for i in issued if i.status != "failed"]
    await conn.execute(
        B.settle_bills,
        [b.bill_id for b in nothing_due] + [i.bill_id for i in settled],
        ["0"] * len(nothing_due) + [str(i.total) for i in settled],
        ["0"] * len(nothing_due) + [str(i.amount_due) for i in settled],
    )
    return issued


async def _items(conn: TarifConnection, bill_ids: list[int]) -> dict[int, list[Item]]:
    out: dict[int, list[Item]] = {}
    for r in await conn.fetch(B.items_of_bills, bill_ids):
        out.setdefault(r["bill_id"], []).append(
            Item(
                r["id"],
                r["kind"],
                r["description"],
                r["amount"],
                r["informational"],
                r["tax"],
                r["ledger"],
            )
        )
    return out


def _prepare(
    bill: BilledBill,
    items: list[Item],
    taxes: dict[str, Tax],
    customer: Any,
    owners: dict[int, int],
    ctx: IssueContext,
) -> _Prepared:
    zone = ZoneInfo(bill.time_zone)
    issue_date = ctx.issued_at.astimezone(zone).date()
    terms = (
        bill.payment_terms_days if bill.payment_terms_days is not None else ctx.payment_terms_days
    )
    period = (
        bill.period_start.astimezone(zone).date(),
        (bill.period_end.astimezone(zone) - timedelta(microseconds=1)).date(),
    )
    owner = owners.get(bill.customer_id)
    if owner == bill.profile_id:
        owner = None
    draft: Draft | None = None
    error: str | None = None
    buyer: Party | None = None
    try:
        if customer is None:
            raise InvoiceNotIssuable(f"customer {bill.customer_id} not found")
        buyer = buyer_party(customer)
        draft = draft_invoice(
            items,
            taxes,
            profile_tax=bill.tax or ctx.default_tax,
            credit_balance=bill.credit_balance,
            seller=ctx.seller,
            decimals=ctx.decimals(bill.currency),
        )
    except InvoiceNotIssuable as exc:
        error = str(exc)
        log.warning("invoice_failed", extra={"bill_id": bill.bill_id, "error": error})
    prepared = _Prepared(
        bill, draft, error, buyer, issue_date, issue_date + timedelta(days=terms), period, owner
    )
    if draft is not None and owner is not None:
        prepared.transferred = max(draft.total - draft.credit_applied, ZERO)
        if prepared.transferred:
            prepared.notes.append(
                f"Transferred to billing profile {owner} (hierarchy group owner), who owes it"
            )
    return prepared


async def _number(
    conn: TarifConnection, ready: list[_Prepared], series: str, preview: bool
) -> None:
    """Gapless numbers, in bill order, from the series' counter row (locked to the commit)."""
    if not ready:
        return
    if preview:
        for p in ready:
            p.seq, p.number = -p.bill.bill_id, f"{series}-{p.bill.bill_id}"
        return
    first = await conn.fetchval(Q.allocate_numbers, series, len(ready))
    for offset, p in enumerate(sorted(ready, key=lambda p: p.bill.bill_id)):
        p.seq = first + offset
        p.number = f"{series}-{p.seq:06d}"


def _party(party: Party | None) -> dict[str, str] | None:
    """The party as stored (its fields are all text: a shallow copy is `asdict`'s answer)."""
    return None if party is None else {name: getattr(party, name) for name in _PARTY_FIELDS}


async def _store(
    conn: TarifConnection, prepared: list[_Prepared], ctx: IssueContext
) -> list[Issued]:
    fresh = [p for p in prepared if p.bill.invoice_id is None]
    again = [p for p in prepared if p.bill.invoice_id is not None]
    ids: dict[int, int] = {}
    if fresh:
        invoices: list[list[Any]] = []
        for p in fresh:
            d = p.draft
            row = [
                "invoice",
                p.bill.bill_id,
                p.bill.profile_id,
                p.bill.customer_id,
                None,
                ctx.series,
                p.seq,
                p.number,
                "failed" if d is None else "billing",
                p.error,
                p.bill.currency,
                ctx.decimals(p.bill.currency),
                p.issue_date if d else None,
                p.due_date if d else None,
                p.period[0],
                p.period[1],
                _party(ctx.seller) if d else None,
                _party(p.buyer) if d else None,
                d.net_total if d else ZERO,
                d.tax_total if d else ZERO,
                d.total if d else ZERO,
                d.credit_applied if d else ZERO,
                p.transferred,
                p.owner_profile if p.transferred else None,
                json.dumps(p.notes),
            ]
            invoices.append(row)
        rows = await conn.fetch(Q.insert_invoices, *arrays(invoices, 25))
        for r in rows:
            ids[r["bill_id"]] = r["id"]
    for p in again:
        assert p.bill.invoice_id is not None
        ids[p.bill.bill_id] = p.bill.invoice_id
        d = p.draft
        if d is None:
            await conn.execute(Q.record_failure, p.bill.invoice_id, p.error)
            continue
        await conn.execute(
            Q.refill_invoice,
            p.bill.invoice_id,
            ctx.series,
            p.seq,
            p.number,
            "billing",
            p.issue_date,
            p.due_date,
            _party(ctx.seller),
            _party(p.buyer),
            d.net_total,
            d.tax_total,
            d.total,
            d.credit_applied,
            p.transferred,
            p.owner_profile if p.transferred else None,
            json.dumps(p.notes),
        )
    await store_lines(conn, [(ids[p.bill.bill_id], p.draft) for p in prepared if p.draft])
    issued_ids = [ids[p.bill.bill_id] for p in prepared if p.draft]
    if issued_ids:
        await conn.execute(Q.mark_issued, issued_ids)
    out = []
    for p in prepared:
        d = p.draft
        if d is None:
            out.append(Issued(p.bill.bill_id, ids[p.bill.bill_id], None, "failed", p.error))
            continue
        due = d.total - d.credit_applied - p.transferred
        out.append(
            Issued(
                p.bill.bill_id,
                ids[p.bill.bill_id],
                p.number,
                "closed" if due <= 0 else "billing",
                None,
                d.total,
                due,
            )
        )
    return out


async def store_lines(conn: TarifConnection, drafts: list[tuple[int, Draft | None]]) -> None:
    """The drafts' lines and VAT rows (amounts sent as text, see the queries)."""
    lines: list[list[Any]] = []
    taxes: list[list[Any]] = []
    for invoice_id, d in drafts:
        assert d is not None
        for x in d.lines:
            net = str(x.net)
            row = [
                invoice_id,
                x.number,
                x.kind,
                x.description,
                "1",
                net,
                net,
                x.tax,
                x.category,
                str(x.rate),
                x.ledger,
                x.bill_item_id,
                x.period_start,
                x.period_end,
            ]
            lines.append(row)
        for t in d.taxes:
            reason = d.exemptions.get((t.category, t.rate.normalize()), "")
            taxes.append([invoice_id, t.category, str(t.rate), str(t.taxable), str(t.tax), reason])
    if lines:
        await conn.execute(Q.insert_invoice_lines, *arrays(lines, 14))
    if taxes:
        await conn.execute(Q.insert_invoice_taxes, *arrays(taxes, 6))


async def _tax_items(conn: TarifConnection, prepared: list[_Prepared]) -> None:
    """The VAT of each issued invoice also goes on its bill, one item per tax and rate."""
    items: list[list[Any]] = []
    for p in prepared:
        if p.draft is None:
            continue
        for name, t in tax_names(p.draft):
            rate = f"{t.rate.normalize():f}"
            label = f"VAT {rate} %" + ("" if t.category == "S" else f" ({t.category})")
            items.append(
                [
                    p.bill.bill_id,
                    f"tax:{name}:{t.category}:{rate}",
                    label,
                    str(t.tax),
                    None if name == TRANSFER_TAX.name else name,
                ]
            )
    if items:
        await conn.execute(B.insert_tax_items, *arrays(items, 5))


async def _post(conn: TarifConnection, prepared: list[_Prepared], issued: list[Issued]) -> None:
    """Journal postings and the profiles' pending total and credit balance."""
    by_bill = {i.bill_id: i for i in issued}
    postings: list[Posting] = []
    profiles: list[int] = []
    pending: list[Decimal] = []
    credit: list[Decimal] = []
    for p in prepared:
        d = p.draft
        if d is None:
            continue
        inv = by_bill[p.bill.bill_id].invoice_id
        profile = p.bill.profile_id
        payable = tax_names(d)
        postings.append(
            Posting(
                "invoice",
                inv,
                None,
                p.bill.currency,
                journal.invoice_legs(profile, d.lines, payable),
            )
        )
        if d.credit_applied:
            postings.append(
                Posting(
                    "credit_applied",
                    inv,
                    None,
                    p.bill.currency,
                    journal.credit_applied_legs(profile, d.credit_applied),
                )
            )
        if p.transferred:
            postings.append(
                Posting(
                    "transfer",
                    inv,
                    None,
                    p.bill.currency,
                    journal.transfer_legs(profile, p.transferred),
                )
            )
        if d.total < 0:
            postings.append(
                Posting(
                    "credit_applied",
                    inv,
                    None,
                    p.bill.currency,
                    journal.excess_credit_legs(profile, -d.total),
                )
            )
        due = d.total - d.credit_applied - p.transferred
        profiles.append(profile)
        pending.append(max(due, ZERO))
        credit.append(-d.credit_applied + (-d.total if d.total < 0 else ZERO))
    await post(conn, postings)
    if profiles:
        await conn.execute(Q.move_profile_money, profiles, pending, credit)


async def _transfer(
    conn: TarifConnection, prepared: list[_Prepared], issued: list[Issued], ctx: IssueContext
) -> None:
    """A member's invoice becomes a line on the hierarchy owner's active bill."""
    by_bill = {i.bill_id: i for i in issued}
    for p in prepared:
        if not p.transferred or p.owner_profile is None:
            continue
        invoice = by_bill[p.bill.bill_id]
        bill_id = await active_bill(conn, p.owner_profile, ctx)
        await conn.execute(
            B.insert_item,
            bill_id,
            f"transfer:{invoice.invoice_id}",
            "transfer",
            f"Invoice {invoice.number} of hierarchy member account {p.bill.customer_id}",
            None,
            p.transferred,
            None,
            None,
        )


async def active_bill(conn: TarifConnection, profile_id: int, ctx: IssueContext) -> int:
    """The profile's active bill (opened if it has none), share-locked so it stays active."""
    for _ in range(3):
        bill_id = await conn.fetchval(B.active_bill_for_share, profile_id)
        if bill_id is not None:
            return int(bill_id)
        await open_bills(conn, ctx.issued_at, [profile_id])
    raise InvoiceNotIssuable(f"billing profile {profile_id} has no active bill")
