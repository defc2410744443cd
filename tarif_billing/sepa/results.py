"""The bank's results applied to the collection items they name, exactly once.

Accepted: the item's payment is recorded with request id `sepa:<item id>` (method
`direct_debit`, on the item's invoice), so a report read twice pays once; the mandate goes on
with RCUR. Rejected: the reason code is kept on the item and the invoice stays due (the next
collection takes it again). Returned (a rejection of a debit already paid, e.g. a camt.054
return): the payment is reversed (`payments.reverse_payment`, request id `sepa-return:<item
id>`), the invoice is due and open again, the reason kept. A return answered twice reverses
once; an acceptance after a rejection is answered `contradicted`, not applied. A collection
closes when every item has its result. One transaction per file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg

from tarif_billing.payments import PaymentIn, record_payment, reverse_payment
from tarif_billing.sepa.pain008 import payment_information_id
from tarif_billing.sepa.reports import BankReport, DebitResult
from tarif_common.errors import Conflict
from tarif_postgres import queries

Q = queries.load("sepa")

Answer = Literal[
    "paid",  # accepted now: the payment is recorded
    "rejected",  # rejected now: the invoice stays due
    "already_paid",
    "already_rejected",
    "returned",  # paid before, now returned by the bank: the payment is reversed
    "already_returned",
    "pending",  # the bank has no final result yet
    "contradicted",  # a final result the item already has the opposite of: not applied
    "unknown",  # no item (of the collection named) has this end-to-end id
]


# the item's status after an answer that changed it
_NEW_STATUS = {"paid": "accepted", "rejected": "rejected", "returned": "returned"}


@dataclass(frozen=True, slots=True)
class ItemAnswer:
    end_to_end_id: str
    answer: Answer
    item_id: int | None = None
    invoice_id: int | None = None
    reason: str | None = None
    payment_id: int | None = None


def _bulk_results(rows: Iterable[Any], reason: str | None) -> list[DebitResult]:
    return [DebitResult(r["end_to_end_id"], "rejected", reason) for r in rows]


async def apply_report(
    conn: asyncpg.Connection,
    report: BankReport,
    recorded_by: str,
    collection_id: int | None = None,
    at: datetime | None = None,
) -> list[ItemAnswer]:
    """Apply `report` (to the items of `collection_id` only, when given: the others are
    `unknown`); one answer per debit it names, in its order."""
    now = at or datetime.now(UTC)
    async with conn.transaction():
        results = list(report.debits)
        for bulk in report.bulk:
            sequence_type = None
            if bulk.payment_information_id is not None:
                for candidate in ("FRST", "RCUR"):
                    if bulk.payment_information_id == payment_information_id(
                        bulk.message_id, candidate
                    ):
                        sequence_type = candidate
                if sequence_type is None:
                    continue  # not a payment information of ours
            rows = await conn.fetch(
                Q.lock_pending_items_of_message, bulk.message_id, sequence_type, collection_id
            )
            results += _bulk_results(rows, bulk.reason)
        ids = sorted({r.end_to_end_id for r in results})
        locked = await conn.fetch(Q.lock_items_by_end_to_end, ids, collection_id)
        items = {r["end_to_end_id"]: r for r in locked}
        answers = []
        for result in results:
            item = items.get(result.end_to_end_id)
            answer = await _apply(conn, item, result, recorded_by, now)
            if item is not None and answer.answer in _NEW_STATUS:
                # a file naming a debit twice: the second mention sees the first one's result
                items[result.end_to_end_id] = {**item, "status": _NEW_STATUS[answer.answer],
                    "reason_code": answer.reason, "payment_id": answer.payment_id}  # fmt: skip
            answers.append(answer)
        touched = sorted({items[a.end_to_end_id]["collection_id"] for a in answers
                          if a.end_to_end_id in items})  # fmt: skip
        await conn.execute(Q.close_answered_collections, touched)
    return answers


async def _apply(
    conn: asyncpg.Connection,
    item: Any,
    result: DebitResult,
    recorded_by: str,
    now: datetime,
) -> ItemAnswer:
    if item is None:
        return ItemAnswer(result.end_to_end_id, "unknown")
    known = ItemAnswer(result.end_to_end_id, "pending", item["id"], item["invoice_id"])
    status = item["status"]
    if result.outcome == "pending":
        return _as(known, status, item)
    if status != "pending":
        same = (status == "accepted") == (result.outcome == "accepted")
        if status == "accepted" and not same:
            return await _returned(conn, known, item, result, recorded_by, now)
        return _as(known, status, item) if same else _contradicted(known, result, item)
    if result.outcome == "rejected":
        await conn.execute(Q.item_rejected, item["id"], result.reason, now)
        return ItemAnswer(known.end_to_end_id, "rejected", item["id"], item["invoice_id"],
                          result.reason)  # fmt: skip
    outcome = await record_payment(
        conn,
        PaymentIn(
            request_id=f"sepa:{item['id']}",
            billing_profile_id=item["billing_profile_id"],
            kind="charge",
            method="direct_debit",
            amount=item["amount"],
            currency="EUR",
            provider="sepa",
            reference=item["end_to_end_id"],
            invoice_id=item["invoice_id"],
            received_at=now,
            recorded_by=recorded_by,
        ),
    )
    await conn.execute(Q.item_accepted, item["id"], outcome.id, now)
    await conn.execute(Q.mandate_recurring, item["mandate_id"])
    return ItemAnswer(known.end_to_end_id, "paid", item["id"], item["invoice_id"],
                      payment_id=outcome.id)  # fmt: skip


async def _returned(
    conn: asyncpg.Connection,
    known: ItemAnswer,
    item: Any,
    result: DebitResult,
    recorded_by: str,
    now: datetime,
) -> ItemAnswer:
    """A paid debit the bank gives back: its payment reversed, the invoice due again."""
    try:
        reversal = await reverse_payment(
            conn,
            item["payment_id"],
            request_id=f"sepa-return:{item['id']}",
            note=f"SEPA return {result.reason or ''}".strip(),
            at=now,
            recorded_by=recorded_by,
        )
    except Conflict:  # its credit was used since: left to an operator, nothing applied
        return _contradicted(known, result, item)
    await conn.execute(Q.item_returned, item["id"], result.reason, reversal.id, now)
    return ItemAnswer(known.end_to_end_id, "returned", item["id"], item["invoice_id"],
                      result.reason, item["payment_id"])  # fmt: skip


def _as(known: ItemAnswer, status: str, item: Any) -> ItemAnswer:
    """What the item already is."""
    answer: Answer = "pending"
    if status == "accepted":
        answer = "already_paid"
    elif status == "rejected":
        answer = "already_rejected"
    elif status == "returned":
        answer = "already_returned"
    return ItemAnswer(known.end_to_end_id, answer, known.item_id, known.invoice_id,
                      item["reason_code"], item["payment_id"])  # fmt: skip


def _contradicted(known: ItemAnswer, result: DebitResult, item: Any) -> ItemAnswer:
    return ItemAnswer(known.end_to_end_id, "contradicted", known.item_id, known.invoice_id,
                      result.reason, item["payment_id"])  # fmt: skip
