"""Payments: money received (charge) or given back (refund), offline or by direct debit.

Idempotent by request id: the same request id records nothing new and answers what was
recorded (a different payment under a used id is refused). A charge pays the invoice it names,
else the oldest due ones; what is left over becomes the profile's credit balance, which the
next invoice uses. A refund gives back credit balance (never more than there is). Invoices and
bills close when nothing is due; the profile's pending total follows; the journal is posted.

A charge can be reversed once (`reverse_payment`: the bank returned a debit it had paid): each
invoice it paid is due again by that much and open again, the credit it left is taken back,
and the journal posts its legs the other way round.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from tarif_billing import journal
from tarif_billing.postings import Posting, post
from tarif_common.errors import Conflict, InvalidRequest, NotFound
from tarif_postgres import queries
from tarif_postgres.driver import TarifConnection

Q = queries.load("payments")
INV = queries.load("invoices")
ZERO = Decimal(0)
Method = Literal["cash", "credit_card", "transfer", "direct_debit"]


@dataclass(frozen=True, slots=True)
class PaymentIn:
    request_id: str
    billing_profile_id: int
    kind: Literal["charge", "refund"]
    method: Method
    amount: Decimal
    currency: str
    provider: str = ""
    reference: str = ""
    note: str = ""
    invoice_id: int | None = None
    received_at: datetime | None = None
    recorded_by: str = "system"


@dataclass(frozen=True, slots=True)
class Allocation:
    invoice_id: int
    number: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    id: int
    request_id: str
    billing_profile_id: int
    kind: str
    method: str
    amount: Decimal
    currency: str
    allocations: tuple[Allocation, ...]
    to_credit: Decimal
    received_at: datetime
    replayed: bool  # True: this request id was recorded before; nothing new was written


async def record_payment(conn: TarifConnection, payment: PaymentIn) -> PaymentOutcome:
    """Record `payment` in the caller's transaction (see the module docstring)."""
    if payment.amount <= 0:
        raise InvalidRequest("amount", "must be greater than zero")
    previous = await conn.fetchrow(Q.payment_by_request, payment.request_id)
    if previous is not None:
        return await _replay(conn, previous, payment)
    profile = await conn.fetchrow(Q.lock_profile_for_payment, payment.billing_profile_id)
    if profile is None:
        raise NotFound(f"billing profile {payment.billing_profile_id} not found")
    if payment.currency != profile["currency"]:
        raise InvalidRequest(
            "currency",
            f"the billing profile is billed in {profile['currency']}, not {payment.currency}",
        )
    allocations: list[tuple[int, int, str, Decimal]] = []  # invoice, bill, number, amount
    to_credit = ZERO
    if payment.kind == "refund":
        if payment.invoice_id is not None:
            raise InvalidRequest("invoice_id", "a refund gives back credit balance, not an invoice")
        if payment.amount > profile["credit_balance"]:
            raise Conflict(
                f"a refund of {payment.amount} exceeds the credit balance "
                f"({profile['credit_balance']} {profile['currency']})"
            )
    else:
        left = payment.amount
        for invoice in await _targets(conn, payment):
            share = min(left, invoice["amount_due"])
            if share > 0:
                allocations.append((invoice["id"], invoice["bill_id"], invoice["number"], share))
                left -= share
            if left == 0:
                break
        to_credit = left
    row = await conn.fetchrow(
        Q.insert_payment,
        payment.request_id,
        payment.billing_profile_id,
        profile["customer_id"],
        payment.kind,
        payment.method,
        payment.provider,
        payment.reference,
        payment.note,
        payment.amount,
        payment.currency,
        payment.invoice_id,
        to_credit,
        payment.received_at or datetime.now(UTC),
        payment.recorded_by,
    )
    if row is None:  # recorded meanwhile by a concurrent request with the same id
        raise Conflict(f"payment {payment.request_id!r} is being recorded by another request")
    allocated = sum((a[3] for a in allocations), ZERO)
    if allocations:
        await conn.execute(
            Q.insert_allocations,
            row["id"],
            [a[0] for a in allocations],
            [a[3] for a in allocations],
        )
        await conn.execute(Q.pay_invoices, [a[0] for a in allocations], [a[3] for a in allocations])
        await conn.execute(Q.pay_bills, [a[1] for a in allocations], [a[3] for a in allocations])
    if payment.kind == "refund":
        legs = journal.refund_legs(payment.billing_profile_id, payment.method, payment.amount)
        credit_delta = -payment.amount
    else:
        legs = journal.payment_legs(
            payment.billing_profile_id, payment.method, allocated, to_credit
        )
        credit_delta = to_credit
    kind = "refund" if payment.kind == "refund" else "payment"
    await post(conn, [Posting(kind, None, row["id"], payment.currency, legs)])
    await conn.execute(
        INV.move_profile_money, [payment.billing_profile_id], [-allocated], [credit_delta]
    )
    return _outcome(row, [Allocation(a[0], a[2], a[3]) for a in allocations], replayed=False)


async def record_payments(conn: TarifConnection, batch: Sequence[PaymentIn]) -> list[int]:
    """Record a batch of payments in the caller's transaction, by the rules of `record_payment`;
    returns their ids in the batch's order. The plain case, a new charge that pays part or all
    of the due invoice it names in the profile's currency, is written set-based (a statement
    per table for the whole batch: what lets a payment-collection run record thousands of card
    payments a second); every other payment goes through `record_payment` itself."""
    plain: list[PaymentIn] = []
    ids: dict[int, int] = {}  # position in the batch -> payment id
    known = {
        r["request_id"]
        for r in await conn.fetch(Q.payments_by_requests, [p.request_id for p in batch])
    }
    profiles = {
        r["id"]: r
        for r in await conn.fetch(
            Q.lock_profiles_for_payments, sorted({p.billing_profile_id for p in batch})
        )
    }
    invoices = {
        r["id"]: r
        for r in await conn.fetch(
            Q.lock_invoices_for_payments,
            sorted({p.invoice_id for p in batch if p.invoice_id is not None}),
        )
    }
    seen: set[str] = set()
    left: dict[int, Decimal] = {}  # what is still due on each invoice as the batch pays it
    positions: list[int] = []
    for n, p in enumerate(batch):
        profile = profiles.get(p.billing_profile_id)
        invoice = invoices.get(p.invoice_id) if p.invoice_id is not None else None
        due = left.get(p.invoice_id, invoice["amount_due"]) if invoice and p.invoice_id else ZERO
        if (
            p.kind == "charge"
            and p.amount > 0
            and p.request_id not in known
            and p.request_id not in seen
            and profile is not None
            and p.currency == profile["currency"]
            and invoice is not None
            and invoice["billing_profile_id"] == p.billing_profile_id
            and invoice["kind"] == "invoice"
            and invoice["status"] == "billing"
            and 0 < p.amount <= due
        ):
            assert p.invoice_id is not None
            left[p.invoice_id] = due - p.amount
            seen.add(p.request_id)
            plain.append(p)
            positions.append(n)
    if plain:
        now = datetime.now(UTC)
        rows = await conn.fetch(
            Q.insert_payments,
            [p.request_id for p in plain],
            [p.billing_profile_id for p in plain],
            [profiles[p.billing_profile_id]["customer_id"] for p in plain],
            [p.method for p in plain],
            [p.provider for p in plain],
            [p.reference for p in plain],
            [p.note for p in plain],
            [p.amount for p in plain],
            [p.currency for p in plain],
            [p.invoice_id for p in plain],
            [p.received_at or now for p in plain],
            [p.recorded_by for p in plain],
        )
        made = [r["id"] for r in rows]
        if len(made) != len(plain):  # recorded meanwhile by a concurrent request
            raise Conflict("a payment of the batch is being recorded by another request")
        invoice_ids = [p.invoice_id for p in plain]
        amounts = [p.amount for p in plain]
        await conn.execute(Q.insert_allocations_of_payments, made, invoice_ids, amounts)
        await conn.execute(Q.pay_invoices, *_summed(invoice_ids, amounts))
        bills = [invoices[p.invoice_id]["bill_id"] for p in plain if p.invoice_id is not None]
        await conn.execute(Q.pay_bills, *_summed(bills, amounts))
        await post(
            conn,
            [
                Posting(
                    "payment",
                    None,
                    payment_id,
                    p.currency,
                    journal.payment_legs(p.billing_profile_id, p.method, p.amount, ZERO),
                )
                for payment_id, p in zip(made, plain, strict=True)
            ],
        )
        await conn.execute(
            INV.move_profile_money,
            [p.billing_profile_id for p in plain],
            [-p.amount for p in plain],
            [ZERO for _ in plain],
        )
        ids.update(zip(positions, made, strict=True))
    for n, p in enumerate(batch):
        if n not in ids:
            ids[n] = (await record_payment(conn, p)).id
    return [ids[n] for n in range(len(batch))]


def _summed(
    keys: Sequence[int | None], amounts: Sequence[Decimal]
) -> tuple[list[int], list[Decimal]]:
    """One amount per key (an UPDATE ... FROM unnest changes a row once, whatever its count)."""
    total: dict[int, Decimal] = {}
    for key, amount in zip(keys, amounts, strict=True):
        assert key is not None
        total[key] = total.get(key, ZERO) + amount
    return list(total), list(total.values())


async def _targets(conn: TarifConnection, payment: PaymentIn) -> list[Mapping[str, Any]]:
    if payment.invoice_id is None:
        return [
            dict(r)
            for r in await conn.fetch(Q.due_invoices_for_payment, payment.billing_profile_id)
        ]
    invoice = await conn.fetchrow(Q.lock_invoice_for_payment, payment.invoice_id)
    if invoice is None or invoice["billing_profile_id"] != payment.billing_profile_id:
        raise NotFound(f"invoice {payment.invoice_id} not found on this billing profile")
    if invoice["kind"] != "invoice" or invoice["status"] == "failed":
        raise Conflict(f"invoice {payment.invoice_id} is not an issued invoice")
    if invoice["status"] == "closed" or invoice["amount_due"] <= 0:
        raise Conflict(f"invoice {invoice['number']} is closed: nothing is due on it")
    return [dict(invoice)]


async def _replay(
    conn: TarifConnection, row: Mapping[str, Any], payment: PaymentIn
) -> PaymentOutcome:
    same = (
        row["billing_profile_id"] == payment.billing_profile_id
        and row["kind"] == payment.kind
        and row["amount"] == payment.amount
        and row["currency"] == payment.currency
    )
    if not same:
        raise Conflict(f"request id {payment.request_id!r} was used for a different payment")
    allocations = [
        Allocation(r["invoice_id"], r["number"], r["amount"])
        for r in await conn.fetch(Q.allocations_of_payment, row["id"])
    ]
    return _outcome(row, allocations, replayed=True)


def _outcome(
    r: Mapping[str, Any], allocations: list[Allocation], *, replayed: bool
) -> PaymentOutcome:
    return PaymentOutcome(
        r["id"],
        r["request_id"],
        r["billing_profile_id"],
        r["kind"],
        r["method"],
        r["amount"],
        r["currency"],
        tuple(allocations),
        r["to_credit"],
        r["received_at"],
        replayed,
    )


async def reverse_payment(
    conn: TarifConnection,
    payment_id: int,
    *,
    request_id: str,
    note: str,
    at: datetime,
    recorded_by: str,
) -> PaymentOutcome:
    """Reverse charge `payment_id` in the caller's transaction; a second call answers the
    reversal recorded (replayed). Conflict when the payment is not a charge, or when the credit
    it left has been used since (that needs an operator's correction, not a reversal)."""
    original = await conn.fetchrow(Q.lock_payment, payment_id)
    if original is None:
        raise NotFound(f"payment {payment_id} not found")
    if (done := await conn.fetchrow(Q.reversal_of, payment_id)) is not None:
        allocations = await conn.fetch(Q.allocations_of_payment, done["id"])
        return _outcome(
            done, [Allocation(r["invoice_id"], r["number"], r["amount"]) for r in allocations],
            replayed=True,
        )  # fmt: skip
    if original["kind"] != "charge":
        raise Conflict(f"payment {payment_id} is a {original['kind']}: only a charge is reversed")
    profile = await conn.fetchrow(Q.lock_profile_for_payment, original["billing_profile_id"])
    to_credit = original["to_credit"]
    if to_credit > profile["credit_balance"]:
        raise Conflict(
            f"payment {payment_id} left {to_credit} {original['currency']} of credit, of which "
            f"{profile['credit_balance']} is left: the rest was used since; correct it by hand"
        )
    paid = await conn.fetch(Q.allocations_of_payment, payment_id)
    row = await conn.fetchrow(
        Q.insert_reversal, request_id, payment_id, note, to_credit, at, recorded_by
    )
    if row is None:
        raise Conflict(f"request id {request_id!r} was used for a different payment")
    invoices = [r["invoice_id"] for r in paid]
    amounts = [r["amount"] for r in paid]
    allocated = sum(amounts, ZERO)
    if paid:
        await conn.execute(Q.insert_allocations, row["id"], invoices, [-a for a in amounts])
        await conn.execute(Q.unpay_invoices, invoices, amounts)
        await conn.execute(Q.unpay_bills, invoices, amounts)
    legs = journal.reversal_legs(row["billing_profile_id"], row["method"], allocated, to_credit)
    await post(conn, [Posting("reversal", None, row["id"], row["currency"], legs)])
    await conn.execute(
        INV.move_profile_money, [row["billing_profile_id"]], [allocated], [-to_credit]
    )
    return _outcome(
        row, [Allocation(r["invoice_id"], r["number"], -r["amount"]) for r in paid],
        replayed=False,
    )  # fmt: skip
