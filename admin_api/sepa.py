"""SEPA direct debit in the back office: the mandates customers' payment info names, collections
and the bank's results; `tarif_billing.sepa` does the work, this module adds the audit log."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from admin_api import audit
from admin_api.auth import Principal
from admin_api.paging import MAX_ID, Keyset, Listed, Paging
from admin_api.schemas import DirectDebitPayment, Payment
from tarif_billing.sepa import collections, mandates, reports, results
from tarif_billing.sepa.pain008 import Creditor
from tarif_common.errors import InvalidRequest, NotFound
from tarif_postgres import queries

Q = queries.load("sepa")
CUSTOMERS = queries.load("customers")

MANDATES = Keyset("mandates", "id", 0)
COLLECTIONS = Keyset("sepa-collections", "id", MAX_ID)  # newest first


def mandate_of(payment: Payment) -> mandates.MandateIn | None:
    """The mandate a customer's payment info names (None: not paid by direct debit)."""
    if not isinstance(payment, DirectDebitPayment):
        return None
    return mandates.MandateIn(payment.mandate_id, payment.iban, payment.bic, payment.signature_date)


async def write_mandate(
    conn: asyncpg.Connection, creditor_id: str, customer_id: int, payment: Payment
) -> None:
    """Inside the transaction writing the customer's payment info: the mandate it names
    becomes the active one (409 when another customer holds its reference)."""
    await mandates.put_mandate(conn, creditor_id, customer_id, mandate_of(payment))


async def list_mandates(conn: asyncpg.Connection, customer_id: int, page: Paging) -> Listed:
    if await conn.fetchval(CUSTOMERS.customer_exists, customer_id) is None:
        raise NotFound(f"no customer {customer_id}")
    rows = await conn.fetch(Q.customer_mandates, customer_id, MANDATES.after(page), page.limit)
    return MANDATES.page(rows, page)


async def create_collection(
    conn: asyncpg.Connection,
    who: Principal,
    creditor: Creditor,
    request_id: str,
    collection_date: date,
) -> tuple[dict[str, Any], bool]:
    """The collection of what is due by the date (the one the request id made before, if
    any); True when it was made now."""
    async with conn.transaction():
        made = await collections.collect(conn, creditor, request_id, collection_date, who.actor)
        found = await get_collection(conn, made.collection_id)
        if made.created:
            await audit.record(
                conn, who, "sepa.collection.create", "sepa_collection", str(made.collection_id),
                None, {"request_id": request_id, "collection_date": collection_date.isoformat(),
                       "items": found["item_count"], "total": found["total"]},
            )  # fmt: skip
    return found, made.created


async def list_collections(conn: asyncpg.Connection, page: Paging) -> Listed:
    rows = await conn.fetch(Q.collections_page, COLLECTIONS.after(page), page.limit)
    return COLLECTIONS.page(rows, page)


async def get_collection(conn: asyncpg.Connection, collection_id: int) -> dict[str, Any]:
    """One collection with its items."""
    row = await conn.fetchrow(Q.collection_by_id, collection_id)
    if row is None:
        raise NotFound(f"no SEPA collection {collection_id}")
    items = [dict(r) for r in await conn.fetch(Q.collection_items, collection_id)]
    return {**dict(row), "items": items}


async def collection_file(conn: asyncpg.Connection, collection_id: int) -> str:
    document: str | None = await conn.fetchval(Q.collection_document, collection_id)
    if document is None:
        raise NotFound(f"no SEPA collection {collection_id}")
    return document


async def import_results(
    conn: asyncpg.Connection, who: Principal, data: bytes, collection_id: int | None = None
) -> dict[str, Any]:
    """A pain.002 or camt.054 file applied to the items it names, of `collection_id` only when
    given (see `tarif_billing.sepa.results`); answers per item."""
    if collection_id is not None:
        await get_collection(conn, collection_id)  # 404 for no such collection
    try:
        report = reports.parse(data)
    except reports.NotAReport as exc:
        raise InvalidRequest("body", str(exc)) from None
    async with conn.transaction():
        answers = await results.apply_report(conn, report, who.actor, collection_id)
        counts: dict[str, int] = {}
        for a in answers:
            counts[a.answer] = counts.get(a.answer, 0) + 1
        applied = ("paid", "rejected", "returned")
        if any(counts.get(a) for a in applied):
            await audit.record(
                conn, who, "sepa.results.import", "sepa_collection",
                str(collection_id) if collection_id is not None else "*", None,
                {"counts": counts,
                 "items": [{"end_to_end_id": a.end_to_end_id, "answer": a.answer}
                           for a in answers if a.answer in applied]},
            )  # fmt: skip
    return {
        "kind": report.kind,
        "counts": counts,
        "items": [
            {
                "end_to_end_id": a.end_to_end_id,
                "answer": a.answer,
                "item_id": a.item_id,
                "invoice_id": a.invoice_id,
                "reason": a.reason,
                "payment_id": a.payment_id,
            }
            for a in answers
        ],
    }
