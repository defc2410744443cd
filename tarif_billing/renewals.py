"""The purchase check: recurring products renewed at the end of their cycle, products ended.

Rules (docs/jobs-purchases.md):
- A recurring product runs in the cycles of its balance group's billing profile
  (`purchasing.group_rule`). When its cycle has ended by the check's "process now", it is
  renewed for the cycle holding "process now" (cycles missed while nothing ran are not renewed
  one by one: nothing could have used their grants), once per cycle (`purchase_renewals`).
- Its price for that cycle is `price_line` with the unit price and discount terms kept with the
  purchase; a coupon's discount lasts `coupons.cycles` cycles (0: always), a voucher paid the
  first cycle only.
- **Prepaid**: the cycle is paid from the group's money balance through the engine's adjustment
  step (`tarif_billing.adjustments`, once per attempt id), then its grant is given again.
  **Postpaid**: the billing runs charge the fee on the bill (`tarif_billing.fees`, through
  `purchases.billed_through`), so the renewal charges nothing: it moves the purchase's cycle
  (`period_start`, `period_end`, `cycles`) and gives the grant again. Nothing is charged twice.
- A grant is given again as a new balance for the cycle (`<product>-<purchase>-<cycle>`): the
  previous cycle's keeps its own end; the purchase's grants that have ended are removed.
- **Unpaid** (the engine refuses the payment, or the group has no money balance): the renewal
  is `unpaid` and the product **suspended** at once (its services stop, no new grant); every
  later check tries the payment again (a new attempt); paid, the product is active again with
  the grant of the cycle it paid (until that cycle's end). Still unpaid `renewal_grace_days`
  after the cycle started (or once the cycle is over), it is **cancelled** as of the cycle's
  start.
- A product whose `ends_at` has come (a termination) is cancelled then; the products of a
  cancelled subscription are cancelled as of the subscription's cancellation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import asyncpg

from tarif_billing import purchasing, terms
from tarif_billing.cycles import Cycle, cycle_at
from tarif_billing.due import DueIds
from tarif_billing.published import published_catalog
from tarif_catalog import Catalog
from tarif_catalog.pricing import DiscountTerm, Line, price_line, terms_from_json
from tarif_common.errors import InvalidRequest
from tarif_postgres import changes, queries

Q = queries.load("purchases")

Outcome = Literal[
    "current",  # nothing to do (its cycle runs; or another worker has it)
    "renewed",  # a new cycle, paid (or billed, or free) and granted
    "pay",  # a payment was asked: apply `adjustment_id`, then `conclude`
    "waiting",  # the engine has not answered the payment (no account yet): a later check
    "unpaid",  # the payment was refused: the product is suspended
    "ended",  # its end came (a termination, its subscription cancelled): cancelled
    "lapsed",  # unpaid past the grace: cancelled
]


@dataclass(frozen=True, slots=True)
class Checked:
    outcome: Outcome
    account_id: str = ""
    renewal_id: int | None = None
    adjustment_id: int | None = None
    message: str = ""


# ids of the recurring purchases whose cycle ended, or that ended, by `at` (`tarif_billing.due`)
purchases_to_check = DueIds(Q.purchases_to_check)


def cycle_terms(
    kept: tuple[DiscountTerm, ...], cycle: int, coupon_cycles: dict[str, int]
) -> list[DiscountTerm]:
    """The discount terms that still apply in the purchase's `cycle`-th cycle (1 = the first):
    the offer's always, a coupon's for its `cycles` (0: always), a voucher's in the first."""
    applying = []
    for term in kept:
        if term.source == "voucher" and cycle > 1:
            continue
        if term.source == "coupon":
            limit = coupon_cycles.get(term.id, 0)
            if limit and cycle > limit:
                continue
        applying.append(term)
    return applying


async def _price(
    conn: asyncpg.Connection, published: Catalog, row: asyncpg.Record, cycle: int
) -> Line:
    kept = terms_from_json(row["discount_terms"])
    codes = [t.id for t in kept if t.source == "coupon"]
    limits = {r["code"]: r["cycles"] for r in await conn.fetch(Q.coupon_cycles, codes)}
    return price_line(
        row["product"],
        row["unit_price"],
        row["quantity"],
        cycle_terms(kept, cycle, limits),
        published.resources[row["currency"]].decimals,
    )


def next_cycle_at(rule_cycle: Cycle, period_end: datetime) -> Cycle:
    """The cycle to renew for: the one holding "process now" (`rule_cycle`), from the end of
    the last one at the earliest (after a change of the profile's rule, a shorter one)."""
    return Cycle(max(rule_cycle.start, period_end), rule_cycle.end)


async def check(
    conn: asyncpg.Connection, purchase_id: int, at: datetime, grace: timedelta
) -> Checked:
    """Look at one purchase as of `at`, in its own transaction: end it, renew it, ask for its
    renewal's payment (apply it after the commit, then `conclude`), or leave it."""
    async with conn.transaction():
        row = await conn.fetchrow(Q.lock_purchase_to_check, purchase_id)
        if row is None:
            return Checked("current")
        account = str(row["account_id"])
        if row["subscription_status"] == "cancelled":
            await terms.end_purchase(conn, row, row["subscription_cancelled_at"] or at)
            return Checked("ended", account, message="its subscription was cancelled")
        if row["ends_at"] is not None and row["ends_at"] <= at:
            await terms.end_purchase(conn, row, row["ends_at"])
            return Checked("ended", account, message="its end came")
        if row["charge"] != "recurring" or row["customer_status"] != "active":
            return Checked("current", account)
        open_renewal = await conn.fetchrow(Q.open_renewal, purchase_id)
        if open_renewal is not None:
            return await _follow(conn, row, open_renewal, at, grace)
        published = await published_catalog(conn)
        rule = await purchasing.group_rule(conn, row["balance_group_id"], published)
        period_end = row["period_end"]
        if period_end is None:  # bought before cycles were recorded: the one it was bought in
            period = cycle_at(rule, row["created_at"])
            await conn.execute(Q.set_purchase_period, purchase_id, period.start, period.end)
            period_end = period.end
        if period_end > at:
            return Checked("current", account)
        cycle = next_cycle_at(cycle_at(rule, at), period_end)
        number = row["cycles"] + 1
        line = await _price(conn, published, row, number)
        prepaid = row["payment_type"] == "prepaid" and line.price > 0
        paid_by = "balance" if prepaid else "bill" if line.price > 0 else "free"
        renewal = await conn.fetchrow(
            Q.insert_renewal, purchase_id, cycle.start, cycle.end, number, line.price,
            purchasing.breakdown(line), paid_by, "pending",
        )  # fmt: skip
        if renewal is None:  # renewed already (the purchase's cycle is recorded after it)
            return Checked("current", account)
        if not prepaid:
            await _renew(conn, published, row, renewal)
            return Checked("renewed", account, renewal["id"])
        return await _ask_payment(conn, row, renewal)


async def _ask_payment(
    conn: asyncpg.Connection, row: asyncpg.Record, renewal: asyncpg.Record
) -> Checked:
    """One more payment attempt for `renewal` (inside the check's transaction)."""
    attempt = renewal["attempts"] + 1
    sub = purchasing.Subscription(
        row["subscription_id"], row["customer_id"], row["balance_group_id"], row["account_id"],
        "", row["payment_type"], row["currency"],
    )  # fmt: skip
    start = int(renewal["period_start"].timestamp())
    try:
        adjustment = await purchasing.payment(
            conn, changes.SYSTEM, sub, [row["id"]], renewal["amount"],
            f"renewal of {row['product']} from {renewal['period_start']:%Y-%m-%d}", "renewal",
            request_id=f"renewal-{row['id']}-{start}-{attempt}", link=False,
        )  # fmt: skip
    except InvalidRequest as exc:  # no money balance to pay from
        await conn.execute(Q.renewal_payment_asked, renewal["id"], None)
        return await _unpaid(conn, row, renewal["id"], exc.reason)
    await conn.execute(Q.renewal_payment_asked, renewal["id"], adjustment)
    return Checked("pay", str(row["account_id"]), renewal["id"], adjustment)


async def _follow(
    conn: asyncpg.Connection,
    row: asyncpg.Record,
    renewal: asyncpg.Record,
    at: datetime,
    grace: timedelta,
) -> Checked:
    """A renewal still waiting for its payment: settled, lapsed, or tried again."""
    account = str(row["account_id"])
    status = None
    if renewal["adjustment_id"] is not None:
        status = await conn.fetchval(Q.adjustment_status, renewal["adjustment_id"])
    if renewal["status"] == "pending" and renewal["adjustment_id"] is None:
        return await _ask_payment(conn, row, renewal)
    if renewal["status"] == "pending" and status == "pending":
        return Checked("pay", account, renewal["id"], renewal["adjustment_id"])
    if renewal["status"] == "pending" and status == "applied":
        await _renew(conn, await published_catalog(conn), row, renewal)
        return Checked("renewed", account, renewal["id"])
    if renewal["status"] == "pending":  # refused: suspended, tried again by later checks
        return await _unpaid(conn, row, renewal["id"], await _refusal(conn, renewal))
    if at >= min(renewal["period_start"] + grace, renewal["period_end"]):
        await conn.execute(Q.close_renewal, renewal["id"], "cancelled", renewal["error"])
        await terms.end_purchase(conn, row, renewal["period_start"])
        return Checked("lapsed", account, renewal["id"], message=renewal["error"])
    return await _ask_payment(conn, row, renewal)


async def _refusal(conn: asyncpg.Connection, renewal: asyncpg.Record) -> str:
    paid = await conn.fetchrow(Q.adjustment_result, renewal["adjustment_id"])
    return str(paid["result"] or "refused") if paid else "refused"


async def _unpaid(
    conn: asyncpg.Connection, row: asyncpg.Record, renewal_id: int, error: str
) -> Checked:
    await conn.execute(Q.close_renewal, renewal_id, "unpaid", error)
    if row["status"] != "suspended":
        await conn.execute(Q.suspend_purchase, row["id"])
        await changes.queue(conn, "account", row["account_id"])
    return Checked("unpaid", str(row["account_id"]), renewal_id, message=error)


async def conclude(conn: asyncpg.Connection, renewal_id: int) -> Checked:
    """After the engine answered a renewal's payment: renewed, or unpaid (suspended);
    `waiting` while the engine has not answered."""
    async with conn.transaction():
        renewal = await conn.fetchrow(Q.renewal_by_id, renewal_id)
        row = await conn.fetchrow(Q.lock_renewing_purchase, renewal["purchase_id"])
        account = str(row["account_id"])
        if renewal["status"] != "pending":
            return Checked("current", account, renewal_id)
        status = await conn.fetchval(Q.adjustment_status, renewal["adjustment_id"])
        if status == "pending":
            return Checked("waiting", account, renewal_id, renewal["adjustment_id"])
        if status == "applied":
            await _renew(conn, await published_catalog(conn), row, renewal)
            return Checked("renewed", account, renewal_id)
        return await _unpaid(conn, row, renewal_id, await _refusal(conn, renewal))


async def _renew(
    conn: asyncpg.Connection, published: Catalog, row: asyncpg.Record, renewal: asyncpg.Record
) -> None:
    """The purchase enters the renewal's cycle: its grant given again, active again."""
    cycle = Cycle(renewal["period_start"], renewal["period_end"])
    balance_id = valid_from = valid_to = None
    if row["resource"] is not None and row["granted"] is not None:
        balance_id = f"{row['product']}-{row['id']}-{renewal['cycle']}"
        valid_from = cycle.start
        product = published.products.get(row["product"])
        # a product that left the catalog keeps giving its grant for the cycle
        valid_to = purchasing.grant_end(product, cycle, cycle.start) if product else cycle.end
        await conn.execute(
            Q.insert_renewed_grant, row["customer_id"], balance_id, row["resource"],
            row["granted"], valid_from, valid_to, row["balance_group_id"], row["id"],
        )  # fmt: skip
        await conn.execute(Q.delete_ended_grants, row["id"], cycle.start, balance_id)
    await conn.execute(
        Q.renew_purchase, row["id"], cycle.start, cycle.end, renewal["cycle"], balance_id,
        valid_from, valid_to,
    )  # fmt: skip
    if row["status"] == "suspended":
        await conn.execute(Q.activate_purchase_services, [row["id"]])
    await conn.execute(Q.close_renewal, renewal["id"], "done", "")
    await changes.queue(conn, "account", row["account_id"])
