"""Writing journal postings: each `Posting` is one journal transaction with its legs
(`tarif_billing.journal` makes the legs); Postgres refuses at commit a transaction whose
debits and credits differ."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tarif_billing import journal
from tarif_postgres import queries
from tarif_postgres.driver import TarifConnection
from tarif_postgres.queries import arrays

Q = queries.load("invoices")


@dataclass(frozen=True, slots=True)
class Posting:
    kind: str
    invoice_id: int | None
    payment_id: int | None
    currency: str
    legs: list[journal.Leg]


async def post(conn: TarifConnection, postings: Sequence[Posting]) -> None:
    """Write journal transactions and their lines (balanced, or the commit fails)."""
    postings = [p for p in postings if p.legs]
    if not postings:
        return
    rows = await conn.fetch(
        Q.insert_journal_transactions,
        [p.kind for p in postings],
        [p.invoice_id for p in postings],
        [p.payment_id for p in postings],
        [p.currency for p in postings],
    )
    ids = sorted(r["id"] for r in rows)
    legs = [
        [txn, leg.account, leg.billing_profile_id, str(leg.debit), str(leg.credit)]
        for txn, p in zip(ids, postings, strict=True)
        for leg in p.legs
    ]
    await conn.execute(Q.insert_journal_lines, *arrays(legs, 5))
