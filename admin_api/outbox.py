"""Postgres first, then Redis: the outbox.

A change that the engine must see writes an outbox row (`account <id>` or `catalog`) in the same
transaction. The relay then rebuilds that object in Redis **from the current Postgres state**
(not from a payload), so rows for one object collapse into one write and a replay is harmless;
balances that already exist in Redis keep their live amounts (the engine owns them). It runs
right after each API change and every few seconds, so a crash between commit and Redis is
repaired on its own. `tarif sync` runs the same builder for everything.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from engine.provisioning import Provisioner
from tarif_common import keys
from tarif_common.errors import TarifError

log = logging.getLogger(__name__)

_LOCK = int.from_bytes(b"tarifobx", "big") & 0x7FFF_FFFF_FFFF_FFFF
_ENGINE_STATUS = {"active": "active", "inactive": "inactive", "closed": "inactive"}


async def queue(conn: asyncpg.Connection, kind: str, key: str) -> None:
    await conn.execute("INSERT INTO outbox (kind, key) VALUES ($1, $2)", kind, key)


async def account_document(conn: asyncpg.Connection, account_id: str) -> dict[str, Any] | None:
    """The engine's view of one customer (an `accounts[]` item), or None if it has no service."""
    customer = await conn.fetchrow(
        "SELECT id, account_id, status FROM customers WHERE account_id = $1", account_id
    )
    if customer is None:
        return None
    subscription = await conn.fetchrow(
        """SELECT id, plan, payment_type, credit_profile FROM subscriptions
           WHERE customer_id = $1 AND status = 'active' ORDER BY id LIMIT 1""",
        customer["id"],
    )
    if subscription is None:
        return None
    services = await conn.fetch(
        "SELECT identifier FROM services WHERE subscription_id = $1 ORDER BY identifier",
        subscription["id"],
    )
    if not services:
        return None
    balances = await conn.fetch(
        """SELECT balance_id, resource, amount, valid_from, valid_to, priority, credit_limit
           FROM balances WHERE customer_id = $1 ORDER BY balance_id""",
        customer["id"],
    )
    contacts = await conn.fetch(
        "SELECT tag, email, phone FROM account_contacts WHERE account_id = $1", account_id
    )
    document: dict[str, Any] = {
        "id": account_id,
        "plan": subscription["plan"],
        "payment_type": subscription["payment_type"],
        "status": _ENGINE_STATUS[customer["status"]],
        "services": [s["identifier"] for s in services],
        "balances": [_balance(b) for b in balances],
        "contacts": [{k: v for k, v in dict(c).items() if v is not None} for c in contacts],
    }
    if subscription["credit_profile"]:
        document["credit_profile"] = subscription["credit_profile"]
    return document


def _balance(row: Mapping[str, Any]) -> dict[str, Any]:
    balance: dict[str, Any] = {
        "id": row["balance_id"],
        "resource": row["resource"],
        "amount": str(row["amount"]),
        "priority": row["priority"],
    }
    for name in ("valid_from", "valid_to"):
        if row[name] is not None:
            balance[name] = row[name]
    if row["credit_limit"] is not None:
        balance["credit_limit"] = str(row["credit_limit"])
    return balance


class Relay:
    def __init__(self, pool: asyncpg.Pool, redis: Redis, partitions: int) -> None:
        self._pool = pool
        self._redis = redis
        self._provisioner = Provisioner(redis, partitions)

    async def drain(self, limit: int = 500) -> int:
        """Apply pending rows, oldest first, one relay at a time; returns how many applied."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
            rows = await conn.fetch(
                "SELECT id, kind, key FROM outbox WHERE applied_at IS NULL ORDER BY id LIMIT $1",
                limit,
            )
            by_object: dict[tuple[str, str], list[int]] = {}
            for row in rows:
                by_object.setdefault((row["kind"], row["key"]), []).append(row["id"])
            # the catalog first: accounts are checked against it
            ordered = sorted(by_object.items(), key=lambda item: item[0][0] != "catalog")
            applied: list[int] = []
            for (kind, key), ids in ordered:
                try:
                    await self._apply(conn, kind, key)
                except (TarifError, RedisError, OSError) as exc:
                    log.error("outbox.failed", extra={"kind": kind, "key": key, "error": str(exc)})
                    await conn.execute(
                        "UPDATE outbox SET attempts = attempts + 1, last_error = $2"
                        " WHERE id = ANY($1::bigint[])",
                        ids,
                        str(exc)[:2000],
                    )
                    continue
                applied += ids
            if applied:
                await conn.execute(
                    "UPDATE outbox SET applied_at = now() WHERE id = ANY($1::bigint[])", applied
                )
        return len(applied)

    async def _apply(self, conn: asyncpg.Connection, kind: str, key: str) -> None:
        if kind == "catalog":
            row = await conn.fetchrow(
                "SELECT document FROM catalog_versions ORDER BY version DESC LIMIT 1"
            )
            if row is not None:
                await self._provisioner.publish_catalog(row["document"])
            return
        document = await account_document(conn, key)
        if document is None:
            await self._retire(key)
        else:
            await self._provisioner.sync_account(document)

    async def _retire(self, account_id: str) -> None:
        """No active service left: the engine must refuse the account's usage."""
        located = await self._redis.get(keys.locator(account_id))
        if located is not None:
            await self._redis.hset(keys.account(int(located), account_id), "st", "inactive")

    async def sync_all(self) -> dict[str, int]:
        """Rebuild Redis from Postgres: the catalog, then every customer (`tarif sync`)."""
        async with self._pool.acquire() as conn:
            await self._apply(conn, "catalog", "catalog")
            accounts = [
                r["account_id"] for r in await conn.fetch("SELECT account_id FROM customers")
            ]
            for account_id in accounts:
                await self._apply(conn, "account", account_id)
        return {"accounts": len(accounts)}


async def reconcile(pool: asyncpg.Pool, redis: Redis, partitions: int) -> list[dict[str, Any]]:
    """Every difference between what Postgres says an account is and what Redis holds."""
    from engine.provisioning import AccountDoc, account_fields

    provisioner = Provisioner(redis, partitions)
    catalog = await provisioner.current_catalog()
    differences: list[dict[str, Any]] = []
    async with pool.acquire() as conn:
        accounts = [r["account_id"] for r in await conn.fetch("SELECT account_id FROM customers")]
        for account_id in accounts:
            document = await account_document(conn, account_id)
            located = await redis.get(keys.locator(account_id))
            held: dict[str, str] = {}
            if located is not None:
                raw = await redis.hgetall(keys.account(int(located), account_id))
                held = {keys.text(k): keys.text(v) for k, v in raw.items()}
            if document is None:
                if held and held.get("st") != "inactive":
                    differences.append(
                        {
                            "account": account_id,
                            "field": "st",
                            "postgres": "inactive",
                            "redis": held.get("st"),
                        }
                    )
                continue
            expected = account_fields(AccountDoc.model_validate(document), catalog, account_id)
            for name, value in sorted(expected.items()):
                if name.startswith("a:") and name in held:
                    continue  # live amounts belong to the engine
                if held.get(name) != value:
                    differences.append(
                        {
                            "account": account_id,
                            "field": name,
                            "postgres": value,
                            "redis": held.get(name),
                        }
                    )
            for name in sorted(held):
                if name.startswith(("s:", "b:", "t:", "ti:")) and name not in expected:
                    differences.append(
                        {
                            "account": account_id,
                            "field": name,
                            "postgres": None,
                            "redis": held[name],
                        }
                    )
    return differences


def dumps(value: Any) -> str:
    return json.dumps(value, default=str)
