"""Mandates: the one a direct-debit customer's payment info names is their active one.

A reference belongs to one customer for good (per creditor): another customer naming it is a
conflict, the same customer naming it again makes it active again. Runs inside the caller's
transaction, which also writes the customer's payment info.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import asyncpg

from tarif_common.errors import Conflict
from tarif_postgres import queries

Q = queries.load("sepa")


@dataclass(frozen=True, slots=True)
class MandateIn:
    reference: str
    iban: str  # compact, checked
    bic: str | None  # compact, checked against the IBAN's bank where the registry knows it
    signature_date: date


async def adopt(conn: asyncpg.Connection, creditor_id: str) -> None:
    """Mandates written while no creditor was set become the creditor's (a no-op otherwise)."""
    if creditor_id:
        await conn.execute(Q.adopt_unassigned_mandates, creditor_id)


async def put_mandate(
    conn: asyncpg.Connection, creditor_id: str, customer_id: int, mandate: MandateIn | None
) -> int | None:
    """Make `mandate` the customer's active one and revoke any other; None revokes the active
    one (the customer no longer pays by direct debit). Returns the mandate's id; `Conflict`
    when another customer holds the reference."""
    await adopt(conn, creditor_id)
    reference = mandate.reference if mandate is not None else None
    await conn.execute(
        Q.revoke_other_mandates,
        customer_id,
        creditor_id if mandate is not None else None,
        reference,
    )
    if mandate is None:
        return None
    mandate_id: int | None = await conn.fetchval(
        Q.upsert_mandate,
        creditor_id,
        mandate.reference,
        customer_id,
        mandate.iban,
        mandate.bic,
        mandate.signature_date,
    )
    if mandate_id is None:
        raise Conflict(f"mandate reference {mandate.reference!r} belongs to another customer")
    return mandate_id


async def erase(conn: asyncpg.Connection, customer_id: int) -> None:
    """A deleted customer's mandates are revoked and their account numbers erased."""
    await conn.execute(Q.erase_customer_mandates, customer_id)
