"""Postgres first, then Redis: the outbox.

A change that the engine must see writes an outbox row (`account <id>` or `catalog`) in the same
transaction. The relay then rebuilds that object in Redis **from the current Postgres state**
(not from a payload), so rows for one object collapse into one write and a replay is harmless;
balances that already exist in Redis keep their live amounts (the engine owns them). It runs
right after each API change and every few seconds, so a crash between commit and Redis is
repaired on its own. `tarif sync` runs the same builder for everything.

Rows are queued with `tarif_postgres.changes.queue`; the admin process relays them (its
housekeeping loop), and the batch's jobs push the accounts they change right after their
commit, as the admin API does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import asyncpg
from pydantic import ValidationError
from redis.exceptions import RedisError

from tarif_balances.provisioning import AccountDoc, Provisioner, account_fields
from tarif_balances.sharing import GroupDoc, Groups
from tarif_catalog import Catalog
from tarif_common import keys
from tarif_common.errors import InvalidRequest, TarifError
from tarif_common.progress import NO_PROGRESS, Progress
from tarif_common.redis_client import RedisClient
from tarif_postgres import queries

log = logging.getLogger(__name__)
Q = queries.load("outbox")

_LOCK_SPACE = int.from_bytes(b"tobx", "big") & 0x7FFF_FFFF  # advisory locks (space, key)
_ENGINE_STATUS = {
    "active": "active",
    "inactive": "inactive",
    "closed": "inactive",
    "deleted": "inactive",
}


async def account_document(conn: asyncpg.Connection, account_id: str) -> dict[str, Any] | None:
    """The engine's view of one balance group (an `accounts[]` item), or None if it has no
    service.

    Only active services inside their (and their group's) validity reach the engine: usage
    from the others is answered USER_UNKNOWN and kept as unratable usage for review. Each
    service is rated by its own subscription's plan; the group's oldest active subscription
    gives the payment type and credit profile (later ones must match its payment type).

    One query: the relay runs it for every change."""
    row = await conn.fetchrow(Q.account_document, account_id)
    if row is None or not row["subscriptions"] or not row["services"]:
        return None
    first = row["subscriptions"][0]
    plans = {s["identifier"]: s["plan"] for s in row["services"]}
    document: dict[str, Any] = {
        "id": account_id,
        "plan": first["plan"],
        "payment_type": first["payment_type"],
        "status": _ENGINE_STATUS[row["status"]],
        "services": list(plans),
        "balances": [_balance(b) for b in row["balances"]],
    }
    if others := {i: p for i, p in plans.items() if p != first["plan"]}:
        document["service_plans"] = others
    if first["credit_profile"]:
        document["credit_profile"] = first["credit_profile"]
    return document


def _balance(row: Mapping[str, Any]) -> dict[str, Any]:
    balance: dict[str, Any] = {
        "id": row["balance_id"],
        "resource": row["resource"],
        "amount": row["amount"],
        "priority": row["priority"],
    }
    for name in ("valid_from", "valid_to"):
        if row[name] is not None:
            balance[name] = row[name]
    if row["credit_limit"] is not None:
        balance["credit_limit"] = row["credit_limit"]
    if row.get("waives_connect_fee"):
        balance["waives_connect_fee"] = True
    return balance


async def group_document(conn: asyncpg.Connection, group_id: str) -> GroupDoc | None:
    row = await conn.fetchrow(Q.sharing_group_with_owner, group_id)
    if row is None:
        return None
    members = await conn.fetch(Q.sharing_group_members, group_id)
    try:
        return GroupDoc.model_validate(
            {
                "id": group_id,
                "owner": row["owner"],
                "status": row["status"],
                "valid_from": row["valid_from"],
                "valid_to": row["valid_to"],
                "policy": row["policy"],
                "members": [{"account": m["account_id"], "status": m["status"]} for m in members],
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidRequest(f"body.{where}", first["msg"]) from None


class Relay:
    def __init__(self, pool: asyncpg.Pool, redis: RedisClient, partitions: int) -> None:
        self._pool = pool
        self._redis = redis
        self._provisioner = Provisioner(redis, partitions)

    async def drain(self, limit: int = 500, progress: Progress = NO_PROGRESS) -> int:
        """Apply pending rows (the catalog first, then accounts, oldest first); returns how many
        rows were applied. Objects failing are left pending with their error. `progress` hears
        of each object (`tarif sync --pending`)."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(Q.pending_objects, limit)
            applied = 0
            progress.start("applied", "pending objects", len(rows))
            for row in rows:
                applied += await self._apply_pending(conn, row["kind"], row["key"])
                progress.advance()
            progress.done()
        return applied

    async def drain_one(self, kind: str, key: str, conn: asyncpg.Connection | None = None) -> int:
        """Apply one object's pending rows now (the API does it right after its commit)."""
        if conn is not None:
            return await self._apply_pending(conn, kind, key)
        async with self._pool.acquire() as acquired:
            return await self._apply_pending(acquired, kind, key)

    async def _apply_pending(self, conn: asyncpg.Connection, kind: str, key: str) -> int:
        # One relay per object at a time: it reads the object's state under the lock, so the
        # last writer to Redis always wrote the newest state. Different objects go in parallel.
        async with conn.transaction():
            await conn.execute(Q.lock_object, _LOCK_SPACE, key)
            ids = [r["id"] for r in await conn.fetch(Q.pending_rows, kind, key)]
            if not ids:
                return 0
            try:
                await self._apply(conn, kind, key)
            except (TarifError, RedisError, OSError) as exc:
                log.error("outbox.failed", extra={"kind": kind, "key": key, "error": str(exc)})
                await conn.execute(Q.mark_failed, ids, str(exc)[:2000])
                return 0
            await conn.execute(Q.mark_applied, ids)
        return len(ids)

    async def _apply(self, conn: asyncpg.Connection, kind: str, key: str) -> None:
        if kind == "catalog":
            row = await conn.fetchrow(Q.latest_catalog_document)
            if row is not None:
                await self._provisioner.publish_catalog(row["document"])
            return
        if kind == "group":
            doc = await group_document(conn, key)
            if doc is not None:
                await Groups(self._redis, await self._provisioner.current_catalog()).put(doc, key)
            return
        status = await conn.fetchval(Q.account_customer_status, key)
        if status == "deleted":
            await self._provisioner.remove_account(key)
            return
        document = await account_document(conn, key)
        if document is None:
            await self._retire(key)
        else:
            await self._provisioner.sync_account(document)

    async def _held_balances(self, account_id: str) -> set[str]:
        """The balances Redis holds for an account (none if it lost the account)."""
        located = await self._redis.get(keys.locator(account_id))
        if located is None:
            return set()
        fields = await self._redis.hkeys(keys.account(int(located), account_id))
        return {keys.text(f)[2:] for f in fields if keys.text(f).startswith("a:")}

    async def _replay_movements(
        self, account_id: str, held: set[str], moved: dict[tuple[str, str], int]
    ) -> None:
        """A balance just created again from its provisioned amount gets back what the rated
        records say moved since (its thresholds keep their provisioned basis)."""
        located = await self._redis.get(keys.locator(account_id))
        if located is None:
            return
        key = keys.account(int(located), account_id)
        for name in await self._redis.hkeys(key):
            field = keys.text(name)
            if not field.startswith("a:") or field[2:] in held:  # held: its live amount wins
                continue
            if units := moved.get((account_id, field[2:]), 0):
                await self._redis.hincrby(key, field, units)

    async def _retire(self, account_id: str) -> None:
        """No active service left: the engine must refuse the account's usage."""
        located = await self._redis.get(keys.locator(account_id))
        if located is not None:
            await self._redis.hset(keys.account(int(located), account_id), "st", "inactive")

    async def sync_all(self, progress: Progress = NO_PROGRESS) -> dict[str, int]:
        """Rebuild Redis from Postgres: the catalog, every customer, then the sharing groups
        (`tarif sync`). A balance Redis lost comes back as its provisioned amount plus every
        movement of the ingested rated records (usage, refunds, adjustments, expiries); one
        Redis still has keeps its live amount. `progress` hears of each account and group."""
        async with self._pool.acquire() as conn:
            await self._apply(conn, "catalog", "catalog")
            accounts = [r["account_id"] for r in await conn.fetch(Q.all_account_ids)]
            moved = await moved_units(conn)
            progress.start("synced", "accounts", len(accounts))
            for account_id in accounts:
                held = await self._held_balances(account_id)
                await self._apply(conn, "account", account_id)
                await self._replay_movements(account_id, held, moved)
                progress.advance()
            progress.done()
            groups = [r["id"] for r in await conn.fetch(Q.all_sharing_group_ids)]
            progress.start("synced", "sharing groups", len(groups))
            for group_id in groups:
                await self._apply(conn, "group", group_id)
                progress.advance()
            progress.done()
        return {"accounts": len(accounts), "groups": len(groups)}


async def moved_units(conn: asyncpg.Connection) -> dict[tuple[str, str], int]:
    """Per (account, balance): the sum of every movement in the ingested rated records, in the
    resource's smallest unit. A pool movement `owner/balance` counts for the owner's balance."""
    rows = await conn.fetch(Q.moved_units)
    return {(r["account"], r["balance_id"]): int(r["units"]) for r in rows}


async def reconcile(
    pool: asyncpg.Pool, redis: RedisClient, partitions: int, progress: Progress = NO_PROGRESS
) -> list[dict[str, Any]]:
    """Every difference between what Postgres says an account is and what Redis holds;
    `progress` hears of each account compared."""

    provisioner = Provisioner(redis, partitions)
    catalog = await provisioner.current_catalog()
    differences: list[dict[str, Any]] = []
    async with pool.acquire() as conn:
        accounts = [r["account_id"] for r in await conn.fetch(Q.all_account_ids)]
        progress.start("compared", "accounts", len(accounts))
        for account_id in accounts:
            differences += await _account_differences(conn, redis, catalog, account_id)
            progress.advance()
        progress.done()
    return differences


async def _account_differences(
    conn: asyncpg.Connection, redis: RedisClient, catalog: Catalog, account_id: str
) -> list[dict[str, Any]]:
    """How Redis' copy of one account differs from what Postgres says it is."""
    document = await account_document(conn, account_id)
    located = await redis.get(keys.locator(account_id))
    held: dict[str, str] = {}
    if located is not None:
        raw = await redis.hgetall(keys.account(int(located), account_id))
        held = {keys.text(k): keys.text(v) for k, v in raw.items()}
    if document is None:
        status = held.get("st")
        if held and status != "inactive":
            return [{"account": account_id, "field": "st", "postgres": "inactive", "redis": status}]
        return []
    differences: list[dict[str, Any]] = []
    expected = account_fields(AccountDoc.model_validate(document), catalog, account_id)
    for name, value in sorted(expected.items()):
        if name.startswith("a:") and name in held:
            continue  # live amounts belong to the engine
        if held.get(name) != value:
            differences.append(
                {"account": account_id, "field": name, "postgres": value, "redis": held.get(name)}
            )
    for name in sorted(held):
        if name.startswith(("s:", "b:", "t:", "ti:")) and name not in expected:
            differences.append(
                {"account": account_id, "field": name, "postgres": None, "redis": held[name]}
            )
    return differences
