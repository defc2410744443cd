"""A collection: every due invoice of a customer with an active mandate, taken once, in one
pain.008 file for one collection date.

Due: issued (`number` set), `status = 'billing'`, an invoice (not a credit note), `amount_due >
0`, in EUR, its due date on or before the collection date. The invoices are chosen and taken in
one statement (`FOR UPDATE SKIP LOCKED`: two runs at once split them); a unique index over the
pending items keeps an invoice out of a second open collection even so. The file is built and
stored in the same transaction: a collection exists with its XML or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import asyncpg

from tarif_billing.sepa import mandates
from tarif_billing.sepa.pain008 import SCHEME, Creditor, Debit, build
from tarif_common.errors import Conflict
from tarif_common.settings import Settings
from tarif_postgres import queries

Q = queries.load("sepa")


class NotConfigured(Conflict):
    """TARIF_SEPA_CREDITOR_ID, _NAME and _IBAN must be set before collecting."""


class NothingDue(Conflict):
    """No invoice is due for direct debit by this date."""


def creditor_of(settings: Settings) -> Creditor:
    """The creditor the settings name; `NotConfigured` when a part is missing."""
    if not (
        settings.sepa_creditor_id and settings.sepa_creditor_name and settings.sepa_creditor_iban
    ):
        raise NotConfigured()
    return Creditor(
        settings.sepa_creditor_id,
        settings.sepa_creditor_name,
        settings.sepa_creditor_iban,
        settings.sepa_creditor_bic,
    )


@dataclass(frozen=True, slots=True)
class Made:
    collection_id: int
    created: bool  # False: the request id had made it already


async def collect(
    conn: asyncpg.Connection,
    creditor: Creditor,
    request_id: str,
    collection_date: date,
    created_by: str,
    *,
    customer_ids: Sequence[int] | None = None,
) -> Made:
    """Make the collection of what is due by `collection_date` (once per request id): its
    items and its XSD-valid file. `NothingDue` when no invoice is due (nothing is stored).
    `customer_ids`: only these customers' invoices (a job's criteria); None: everyone's."""
    async with conn.transaction():
        await mandates.adopt(conn, creditor.creditor_id)
        made = await conn.fetchrow(
            Q.insert_collection,
            request_id,
            creditor.creditor_id,
            collection_date,
            SCHEME,
            created_by,
        )
        if made is None:
            existing = await conn.fetchrow(Q.collection_by_request, request_id)
            if existing["collection_date"] != collection_date:
                raise Conflict(
                    f"request {request_id!r} made a collection for {existing['collection_date']}"
                )
            return Made(existing["id"], created=False)
        taken = await conn.fetch(
            Q.take_due_invoices,
            made["id"],
            creditor.creditor_id,
            collection_date,
            list(customer_ids) if customer_ids is not None else None,
        )
        if not taken:
            raise NothingDue(f"no invoice is due for direct debit by {collection_date}")
        rows = await conn.fetch(Q.collection_debits, made["id"])
        debits = [
            Debit(
                end_to_end_id=r["end_to_end_id"],
                amount=r["amount"],
                mandate_reference=r["reference"],
                signature_date=r["signature_date"],
                sequence_type=r["sequence_type"],
                debtor_name=r["debtor_name"],
                iban=r["iban"],
                bic=r["bic"],
                remittance=f"Invoice {r['invoice_number']}",
            )
            for r in rows
        ]
        document = build(creditor, made["message_id"], collection_date, debits, datetime.now(UTC))
        total = sum((d.amount for d in debits), Decimal(0))
        await conn.execute(
            Q.finish_collection, made["id"], document.decode("utf-8"), len(debits), total
        )
    return Made(made["id"], created=True)
