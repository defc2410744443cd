"""What billing tests share: a postpaid customer, rated records stored as the ingestor stores
them, the billing context a run uses, and row counts to prove that nothing was written."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from billing_batch.rated import ensure_partitions
from loadtest import billing_bench
from tarif_billing.issuing import IssueContext
from tarif_billing.runs import BillingFacts
from tests.integration.admin_harness import Admin, onboarding

SELLER = billing_bench.SELLER  # the same seller as the benchmark
FACTS = BillingFacts(decimals=lambda currency: 2, timing=lambda product: "advance")
TABLES = (
    "bills",
    "bill_items",
    "invoices",
    "invoice_lines",
    "invoice_taxes",
    "journal_lines",
    "payments",
    "invoice_series",
)


def context(at: datetime, **changes: Any) -> IssueContext:
    ctx = IssueContext(
        seller=SELLER,
        series="INV",
        default_tax="VAT22",
        payment_terms_days=15,
        decimals=lambda currency: 2,
        issued_at=at,
    )
    return replace(ctx, **changes)


async def postpaid_customer(
    admin: Admin, msisdn: str, *, plan: str = "smart", coupon: str | None = None
) -> dict[str, Any]:
    """A postpaid customer (monthly, day 1, credit limit 100 EUR): its onboarding answer."""
    async with admin.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO taxes (name, rate, category) VALUES ('VAT22', 22, 'S'),"
            " ('VAT0', 0, 'Z') ON CONFLICT DO NOTHING"
        )
    body = onboarding(
        msisdn,
        subscription__plan=plan,
        subscription__payment_type="postpaid",
        subscription__balances=[
            {"id": "main", "resource": "EUR", "amount": "0", "credit_limit": "100"}
        ],
    )
    body["account"]["email"] = f"c{msisdn}@example.com"
    body["payment"] = {"method": "invoice"}
    if coupon:
        body["subscription"]["coupons"] = [coupon]
    answer = await admin.call("POST", "/v1/customers", json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def profile_of(pool: asyncpg.Pool, customer_id: int) -> int:
    async with pool.acquire() as conn:
        value: int = await conn.fetchval(
            "SELECT id FROM billing_profiles WHERE customer_id = $1", customer_id
        )
    return value


async def store_usage(
    pool: asyncpg.Pool, account_id: str, *records: tuple[str, str, datetime, str]
) -> None:
    """Rated records (request id, service, event time, cost in EUR) stored as ingested."""
    async with pool.acquire() as conn, conn.transaction():
        await ensure_partitions(conn, [r[2] for r in records])
        await conn.executemany(
            "INSERT INTO rated_events (account_id, request_id, kind, service, rate, event_time,"
            " charged_at, units, rated_units, cost, currency)"
            " VALUES ($1, $2, 'event', $3, $3 || '-std:', $4, $4, 60, 60, $5, 'EUR')",
            [(account_id, r[0], r[1], r[2], Decimal(r[3])) for r in records],
        )


async def counts(pool: asyncpg.Pool) -> dict[str, int]:
    async with pool.acquire() as conn:
        return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}
