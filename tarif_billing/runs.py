"""Run billing, bill now and invoice preview: the one billing library the batch process (bulk
runs) and the admin API (one profile, answered synchronously) both call.

A run takes a chunk of due bills (`FOR UPDATE SKIP LOCKED`, so several workers share the work)
and, in one transaction per chunk, takes their usage (set-based over the rated records), fees,
discounts and adjustments as items, moves the cycle (active -> billing, inactive -> active, a new
inactive) and issues the invoices. A crash rolls the chunk back whole; a second run finds nothing
due. Which usage a bill takes is in docs/billing.md ("Usage and late records").
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import asyncpg

from tarif_billing.cycles import Cycle, next_cycle
from tarif_billing.document import Document
from tarif_billing.documents import load_document
from tarif_billing.fees import Discount, Purchase, Timing, take_fees
from tarif_billing.issuing import BilledBill, IssueContext, Issued, issue_invoices
from tarif_billing.opening import bill_row, open_bills
from tarif_billing.profiles import cycle_rule, period_after
from tarif_common.errors import Conflict, NotFound
from tarif_common.progress import Progress
from tarif_jobs.criteria import Criteria
from tarif_postgres import queries
from tarif_postgres.driver import TarifConnection
from tarif_postgres.queries import arrays

B = queries.load("bills")
INV = queries.load("invoices")
Mode = Literal["cycle", "now"]


@dataclass(frozen=True, slots=True)
class BillingFacts:
    """What billing needs of the catalog (the caller adapts its catalog to this)."""

    decimals: Callable[[str], int]
    timing: Callable[[str], Timing]  # a product's recurring fee: in advance or in arrears


@dataclass(slots=True)
class RunReport:
    opened: int = 0
    billed: int = 0
    invoices: list[Issued] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(1 for i in self.invoices if i.status == "failed")


# a billed chunk, once committed: its bills (with billing_profile_id) and their invoices
OnChunk = Callable[[Sequence[Mapping[str, Any]], list[Issued]], Awaitable[None]]


async def run_billing(
    pool: asyncpg.Pool,
    ctx: IssueContext,
    facts: BillingFacts,
    *,
    profile_ids: Sequence[int] | None = None,
    criteria: Criteria | None = None,
    chunk: int = 500,
    stop: Callable[[], bool] = lambda: False,
    on_chunk: OnChunk | None = None,
    progress: Progress | None = None,
) -> RunReport:
    """Bill every active bill whose cycle ended by `ctx.issued_at` (the "process now" time),
    cycle after cycle until none is due; returns what it did. `profile_ids` and `criteria` (on
    the profile's customer) narrow what is billed; `on_chunk` hears of each committed chunk;
    given a `progress`, the run counts what is due first (one query) and reports each chunk
    against that count."""
    report = RunReport()
    report.opened = await open_due(pool, ctx.issued_at, profile_ids, chunk)
    if progress is not None:
        total = await count_due(pool, ctx.issued_at, profile_ids, criteria)
        progress.start("billed", "bills", total)
    take_due, extra = _due_bills(B.take_due_bills, criteria, 4)
    while not stop():
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(take_due, ctx.issued_at, profile_ids, chunk, *extra)
            if not rows:
                break
            issued = await _bill(conn, rows, ctx, facts, "cycle")
        report.invoices += issued
        report.billed += len(rows)
        if progress is not None:
            progress.advance(len(rows))
        if on_chunk is not None:
            await on_chunk(rows, issued)
    if progress is not None:
        progress.done()
    return report


async def open_due(
    pool: asyncpg.Pool, at: datetime, profile_ids: Sequence[int] | None = None, chunk: int = 500
) -> int:
    """Give profiles without bills their first ones (chunk by chunk); returns how many. A run
    does it first, so a profile whose first cycle already ended is billed by the same run."""
    opened = 0
    after: int | None = 0
    while after is not None:
        async with pool.acquire() as conn, conn.transaction():
            count, after = await open_bills(conn, at, profile_ids, chunk, after)
        opened += count
    return opened


async def count_due(
    pool: asyncpg.Pool,
    at: datetime,
    profile_ids: Sequence[int] | None = None,
    criteria: Criteria | None = None,
) -> int:
    """How many bills a run as of `at` would bill now (after `open_due`): a run's total."""
    query, extra = _due_bills(B.count_due_bills, criteria, 3)
    found: int = await pool.fetchval(query, at, profile_ids, *extra)
    return found


def _due_bills(query: str, criteria: Criteria | None, first: int) -> tuple[str, list[Any]]:
    """`query` with its `{customers}` slot filled: TRUE without criteria (the plan of the
    unfiltered run is unchanged), else the criteria on the bill's customer, bound from `$first`."""
    condition, args = criteria.where("c", first) if criteria is not None else ("TRUE", [])
    if condition == "TRUE":
        return queries.compose(query, customers="TRUE"), []
    return queries.compose(
        query, customers=queries.compose(B.of_customers, criteria=condition)
    ), args


async def bill_now(
    conn: TarifConnection, profile_id: int, ctx: IssueContext, facts: BillingFacts
) -> Issued | None:
    """The active bill's charges so far into a new bill that goes straight to billing; the
    active bill stays the current cycle's. Runs in the caller's transaction; Conflict (and
    nothing written) when there is no charge to bill."""
    await open_bills(conn, ctx.issued_at, [profile_id])
    row = await conn.fetchrow(B.lock_active_bill, profile_id)
    if row is None:
        raise NotFound(f"billing profile {profile_id} has no active bill")
    since = row["usage_until"]
    start = max(row["period_start"], since) if since else row["period_start"]
    if ctx.issued_at <= start:
        raise Conflict(f"nothing to bill: the profile was billed up to {start.isoformat()}")
    async with conn.transaction():  # a savepoint: a bill with nothing on it leaves no trace
        new = await conn.fetchrow(
            B.insert_bills,
            [profile_id],
            [row["customer_id"]],
            ["billing"],
            [row["currency"]],
            [start],
            [ctx.issued_at],
            ["now"],
        )
        await conn.execute(B.move_items, row["id"], new["id"])
        moved = dict(row) | {"id": new["id"], "period_start": start, "period_end": ctx.issued_at}
        issued = await _bill(conn, [moved], ctx, facts, "now", current_end=row["period_end"])
        if not await conn.fetchval(B.bill_has_items, new["id"]):
            raise Conflict(f"nothing to bill: no charge since {start.isoformat()}")
    return issued[0] if issued else None


async def regenerate_failed(
    conn: TarifConnection, ctx: IssueContext, *, profile_id: int | None = None, limit: int = 500
) -> list[Issued]:
    """Make failed invoices again, from their bills' items and today's reference data: those
    that can now be issued get their number; the others keep failing with the new reason."""
    rows = await conn.fetch(INV.failed_invoices, profile_id, limit)
    return await issue_invoices(conn, [failed_bill(r) for r in rows], ctx)


def failed_bill(row: Mapping[str, Any]) -> BilledBill:
    """The bill of a failed invoice to make again, from a row shaped as `failed_invoices`'
    (the invoicing job selects its own with the job's criteria)."""
    return BilledBill(
        row["bill_id"],
        row["billing_profile_id"],
        row["customer_id"],
        row["currency"],
        row["period_start"],
        row["period_end"],
        row["time_zone"],
        row["tax"],
        row["payment_terms_days"],
        row["credit_balance"],
        invoice_id=row["invoice_id"],
    )


@dataclass(frozen=True, slots=True)
class Preview:
    document: Document | None  # None: nothing would be due
    events: list[dict[str, Any]] | None  # with details: the rated records it would take


async def preview_invoice(
    conn: TarifConnection,
    profile_id: int,
    ctx: IssueContext,
    facts: BillingFacts,
    *,
    details: bool = False,
    max_events: int = 10_000,
) -> Preview:
    """The invoice the next run would issue for the active bill, as of now: the same code as
    the run, in a transaction that is always rolled back, so it writes nothing."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        await open_bills(conn, ctx.issued_at, [profile_id])
        row = await conn.fetchrow(B.lock_active_bill, profile_id)
        if row is None:
            raise NotFound(f"billing profile {profile_id} has no active bill")
        at = replace(ctx, issued_at=max(ctx.issued_at, row["period_end"]), series="PREVIEW")
        events = None
        if details:
            snapshot = await conn.fetchval(B.current_snapshot)
            events = [
                dict(r)
                for r in await conn.fetch(
                    B.usage_details,
                    profile_id,
                    row["usage_until"],
                    row["usage_snapshot"],
                    max(row["period_end"], row["usage_until"] or row["period_end"]),
                    snapshot,
                    max_events,
                )
            ]
        issued = await _bill(conn, [row], at, facts, "cycle", preview=True)
        document = None
        if issued and issued[0].status != "failed":
            document = await load_document(conn, issued[0].invoice_id)
        elif issued:
            raise Conflict(f"the invoice could not be made: {issued[0].error}")
        return Preview(document, events)
    finally:
        await transaction.rollback()


async def _bill(
    conn: TarifConnection,
    rows: Sequence[Mapping[str, Any]],
    ctx: IssueContext,
    facts: BillingFacts,
    mode: Mode,
    *,
    current_end: datetime | None = None,
    preview: bool = False,
) -> list[Issued]:
    """Take the charges of `rows`' bills, move their cycles (mode `cycle`) and issue them."""
    snapshot: str = await conn.fetchval(B.current_snapshot)
    plans = [_plan(r, mode, ctx, current_end) for r in rows]
    await _take_usage(conn, plans, snapshot, facts)
    await _take_fees(conn, plans, facts)
    postpaid = [p for p in plans if not p.informational]
    if postpaid:
        await conn.execute(
            B.take_balance_adjustments,
            [p.bill_id for p in postpaid],
            [p.profile_id for p in postpaid],
            [p.until for p in postpaid],
            [p.currency for p in postpaid],
        )
    await conn.execute(B.close_bills, [p.bill_id for p in plans], [p.until for p in plans])
    if mode == "cycle":
        await _move_cycles(conn, plans)
    await conn.execute(
        B.mark_usage_billed, [p.profile_id for p in plans], [p.until for p in plans], snapshot
    )
    bills = [
        BilledBill(
            p.bill_id,
            p.profile_id,
            p.row["customer_id"],
            p.currency,
            p.row["period_start"],
            p.row["period_end"],
            p.row["time_zone"],
            p.row["tax"],
            p.row["payment_terms_days"],
            p.row["credit_balance"],
        )
        for p in plans
    ]
    return await issue_invoices(conn, bills, ctx, preview=preview)


@dataclass(slots=True)
class _Plan:
    row: Mapping[str, Any]
    bill_id: int
    profile_id: int
    currency: str
    informational: bool  # prepaid: charges were paid from the balance
    until: datetime  # usage up to this event time
    fees_advance: datetime
    fees_arrears: datetime
    next: Cycle
    after: Cycle


def _plan(
    row: Mapping[str, Any], mode: Mode, ctx: IssueContext, current_end: datetime | None
) -> _Plan:
    rule = cycle_rule(row)
    this = Cycle(row["period_start"], row["period_end"])
    if mode == "cycle":
        # the rule as it is now: after a change of the profile's rule, one shorter period up to
        # the new rule's boundary, then whole cycles (tarif_billing.profiles.period_after)
        following = period_after(row, this.end)
        until = this.end
        advance, arrears = following.end, this.end
    else:
        assert current_end is not None
        following = Cycle(current_end, current_end)
        until = ctx.issued_at
        advance, arrears = current_end, ctx.issued_at
    if row["usage_until"] is not None:
        until = max(until, row["usage_until"])
    return _Plan(
        row,
        row["id"],
        row["billing_profile_id"],
        row["currency"],
        row["payment_type"] == "prepaid",
        until,
        advance,
        arrears,
        following,
        next_cycle(rule, following) if mode == "cycle" else following,
    )


def _xmin(snapshot: str) -> int:
    return int(snapshot.split(":", 1)[0])


async def _take_usage(
    conn: TarifConnection, plans: list[_Plan], snapshot: str, facts: BillingFacts
) -> None:
    lows = [_xmin(p.row["usage_snapshot"]) for p in plans if p.row["usage_snapshot"]]
    await conn.execute(
        B.take_usage,
        [p.bill_id for p in plans],
        [p.profile_id for p in plans],
        [p.row["usage_until"] for p in plans],
        [p.row["usage_snapshot"] for p in plans],
        [p.until for p in plans],
        [p.informational for p in plans],
        snapshot,
        min(lows, default=0),
        [facts.decimals(p.currency) for p in plans],
    )


async def _take_fees(conn: TarifConnection, plans: list[_Plan], facts: BillingFacts) -> None:
    by_profile = {p.profile_id: p for p in plans}
    rows = await conn.fetch(B.fee_purchases, list(by_profile))
    if not rows:
        return
    codes = sorted({d["id"] for r in rows for d in _discounts(r) if d["source"] == "coupon"})
    cycles = {r["code"]: r["cycles"] for r in await conn.fetch(B.coupon_cycles, codes)}
    items: list[list[Any]] = []
    marks: list[list[Any]] = []
    for r in rows:
        plan = by_profile[r["billing_profile_id"]]
        purchase = Purchase(
            r["id"],
            r["product"],
            r["quantity"],
            r["charge"],
            r["list_price"],
            tuple(
                Discount(d["source"], str(d["id"]), Decimal(str(d["amount"])))
                for d in _discounts(r)
            ),
            r["created_at"],
            r["cancelled_at"],
            r["billed_through"],
            r["fee_cycles"],
        )
        taking = take_fees(
            purchase,
            cycle_rule(plan.row),
            advance_until=plan.fees_advance,
            arrears_until=plan.fees_arrears,
            timing=facts.timing(r["product"]),
            coupon_cycles=cycles,
            decimals=facts.decimals(plan.currency),
        )
        for line in taking.lines:
            values = [
                plan.bill_id,
                line.source,
                line.kind,
                line.description,
                r["balance_group_id"],
                r["subscription_id"],
                r["id"],
                str(line.amount),
                plan.informational,
                line.period_start,
                line.period_end,
            ]
            items.append(values)
        if taking.billed_through is not None:
            marks.append([r["id"], taking.billed_through, taking.fee_cycles])
    if items:
        await conn.execute(B.insert_fee_items, *arrays(items, 11))
    if marks:
        await conn.execute(B.mark_purchases_billed, *arrays(marks, 3))


def _discounts(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    value = row["discounts"]
    parsed = json.loads(value) if isinstance(value, str) else value
    return list(parsed or [])


async def _move_cycles(conn: TarifConnection, plans: list[_Plan]) -> None:
    """active -> billing (done), inactive -> active, and a new inactive for the cycle after."""
    prepared = [p for p in plans if p.row["next_id"]]
    await conn.execute(
        B.activate_bills, [p.row["next_id"] for p in prepared], [p.next.end for p in prepared]
    )
    bills = [
        bill_row(p.profile_id, p.row["customer_id"], status, p.currency, cycle)
        for p in plans
        for status, cycle in [
            *([] if p.row["next_id"] else [("active", p.next)]),
            ("inactive", p.after),
        ]
    ]
    await conn.execute(B.insert_bills, *arrays(bills, 7))
