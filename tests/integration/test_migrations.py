"""Schema migrations: applied once, in order, safe on every start and under concurrent starts."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest

from tarif_postgres import db


@pytest.fixture
async def empty_database(database_url: str) -> AsyncIterator[str]:
    base, _, _ = database_url.rpartition("/")
    name = f"tarif_mig_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_concurrent_starts_apply_each_migration_once(empty_database: str) -> None:
    results = await asyncio.gather(*(db.migrate_url(empty_database) for _ in range(4)))
    every = [v for applied in results for v in applied]
    assert sorted(every) == [m.version for m in db.migrations()]
    assert await db.migrate_url(empty_database) == []  # up to date: nothing to do
    conn = await asyncpg.connect(empty_database)
    try:
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations ORDER BY 1")
    finally:
        await conn.close()
    assert [(r["version"], r["checksum"]) for r in rows] == [
        (m.version, m.checksum) for m in db.migrations()
    ]


async def test_a_changed_or_unknown_migration_is_refused(empty_database: str) -> None:
    await db.migrate_url(empty_database)
    conn = await asyncpg.connect(empty_database)
    try:
        await conn.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1")
        with pytest.raises(db.MigrationError, match="changed after it was applied"):
            await db.migrate(conn)
        await conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (999, 'future', 'y')"
        )
        with pytest.raises(db.MigrationError, match="does not know"):
            await db.migrate(conn)
    finally:
        await conn.close()


async def test_profiles_take_the_cycle_and_purchases_their_terms(empty_database: str) -> None:
    """Migration 15 on data made before it: each profile gets the catalog's time zone (a weekly
    day past 7 becomes Monday), subscriptions lose their own cycle, and every purchase gets its
    unit price and discount terms (the catalog's offer, its coupons, a voucher)."""
    from tests.integration.harness import catalog

    conn = await asyncpg.connect(empty_database)
    try:
        for migration in db.migrations()[:14]:
            await conn.execute(migration.sql)
        await conn.execute(
            "INSERT INTO catalog_versions (document, published_by) VALUES ($1::jsonb, 't')",
            json.dumps(catalog()),
        )
        await conn.execute("""
            INSERT INTO customer_types (name) VALUES ('residential') ON CONFLICT DO NOTHING;
            INSERT INTO customers (id, account_id, customer_type, first_name, last_name, email,
                phone, address, city, state, country, payment_method)
            VALUES (1, 'C1', 'residential', 'Ana', 'Novak', 'a@example.com', '+38640555001',
                'Slovenska 1', 'Ljubljana', '-', 'SI', 'invoice');
            INSERT INTO billing_profiles (id, customer_id, name, payment_type, currency,
                billing_interval, billing_day) VALUES (1, 1, 'a', 'prepaid', 'EUR', 'weekly', 15),
                (2, 1, 'b', 'prepaid', 'EUR', 'monthly', 28);
            INSERT INTO balance_groups (id, customer_id, account_id, name, billing_profile_id)
            VALUES (1, 1, 'C1', 'main', 1);
            INSERT INTO subscriptions (id, customer_id, plan, payment_type, currency,
                billing_interval, billing_day, billing_profile_id, balance_group_id)
            VALUES (1, 1, 'smart', 'prepaid', 'EUR', 'yearly', 15, 2, 1);
            INSERT INTO coupons (code, amount, currency) VALUES ('TWO-OFF', 2.00, 'EUR');
            INSERT INTO purchases (subscription_id, origin, offer, product, quantity, currency,
                charge, list_price, discount, price, discounts, coupons) VALUES
            (1, 'plan', 'smart-bundle', 'voice-100min', 2, 'EUR', 'recurring', 8.00, 2.80, 5.20,
             '[{"source": "offer", "id": "launch", "amount": "0.80"},
               {"source": "coupon", "id": "TWO-OFF", "amount": "2.00"}]', '{TWO-OFF}'),
            (1, 'plan', 'gone-bundle', 'monthly-fee', 1, 'EUR', 'recurring', 9.99, 1.00, 8.99,
             '[{"source": "offer", "id": "old", "amount": "1.00"}]', '{}'),
            (1, 'voucher', 'data-boost', 'data-1gb', 1, 'EUR', 'recurring', 3.00, 3.00, 0,
             '[{"source": "voucher", "id": "FREE-DATA", "amount": "3.00"}]', '{}');
        """)
        await conn.execute(db.migrations()[14].sql)
        profiles = await conn.fetch(
            "SELECT billing_day, anchor_month, time_zone FROM billing_profiles ORDER BY id"
        )
        assert [tuple(p) for p in profiles] == [
            (1, 1, "Europe/Ljubljana"),
            (28, 1, "Europe/Ljubljana"),
        ]
        columns = await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'subscriptions'"
        )
        assert {"billing_interval", "billing_day", "billing_profile_id"}.isdisjoint(
            c["column_name"] for c in columns
        )
        rows = await conn.fetch("SELECT unit_price, discount_terms FROM purchases ORDER BY id")
        assert [(r["unit_price"], json.loads(r["discount_terms"])) for r in rows] == [
            (4, [{"source": "offer", "id": "launch", "percent": "10"},
                 {"source": "coupon", "id": "TWO-OFF", "amount": "2.00"}]),
            (Decimal("9.99"), [{"source": "offer", "id": "old", "amount": "1.00"}]),
            (3, [{"source": "voucher", "id": "FREE-DATA", "percent": "100"}]),
        ]  # fmt: skip
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE billing_profiles SET billing_day = 8 WHERE id = 1")
    finally:
        await conn.close()
