"""Payments of a billing profile: recorded through `tarif_billing.payments` (allocated to the
invoices it names or the oldest due, the rest to credit balance; a refund gives credit back),
idempotent by request id, and read back with where the money went."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg

from admin_api import audit
from admin_api.auth import Principal
from admin_api.bills import profile
from admin_api.paging import MAX_ID, Keyset, Listed, Paging
from admin_api.schemas import PaymentNew
from tarif_billing import payments
from tarif_common.errors import InvalidRequest, NotFound
from tarif_postgres import queries

Q = queries.load("billing_api")

PAYMENTS = Keyset("payments", "id", MAX_ID)  # newest first


async def list_payments(conn: asyncpg.Connection, profile_id: int, page: Paging) -> Listed:
    await profile(conn, profile_id)
    rows = await conn.fetch(Q.payments_of_profile, profile_id, PAYMENTS.after(page), page.limit)
    return PAYMENTS.page(rows, page)


async def get_payment(conn: asyncpg.Connection, payment_id: int) -> dict[str, Any]:
    row = await conn.fetchrow(Q.payment_answer, payment_id)
    if row is None:
        raise NotFound(f"no payment {payment_id}")
    allocations = [dict(r) for r in await conn.fetch(Q.allocations_answer, payment_id)]
    return dict(row) | {"allocations": allocations}


async def record(
    conn: asyncpg.Connection, who: Principal, profile_id: int, body: PaymentNew
) -> dict[str, Any]:
    """Record the payment (nothing, on a refusal); `replayed` when the request id was
    recorded before, in which case nothing new is written."""
    async with conn.transaction():
        try:
            outcome = await payments.record_payment(
                conn,
                payments.PaymentIn(
                    request_id=body.request_id,
                    billing_profile_id=profile_id,
                    kind=body.kind,
                    method=body.method,
                    amount=Decimal(body.amount),
                    currency=body.currency,
                    provider=body.provider,
                    reference=body.reference,
                    note=body.note,
                    invoice_id=body.invoice_id,
                    received_at=body.received_at,
                    recorded_by=who.actor,
                ),
            )
        except InvalidRequest as exc:  # the library names the field of the payment
            raise InvalidRequest(f"body.{exc.field}", exc.reason) from None
        if not outcome.replayed:
            await audit.record(
                conn, who, f"payment.{body.kind}", "billing_profile", str(profile_id), None,
                body.model_dump(mode="json"),
            )  # fmt: skip
        answer = await get_payment(conn, outcome.id)
    return answer | {"replayed": outcome.replayed}
