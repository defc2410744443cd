"""What a change writes besides itself, in its own transaction: an audit entry (who changed what,
before and after) and, when the engine must see it, an outbox row (the relay then rebuilds that
object in Redis from Postgres).

The admin API, its housekeeping and the batch's jobs all change customers and subscriptions, so
these two writes live here, below every process; the relay that carries the outbox to Redis is
`tarif_balances.outbox`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg

from tarif_postgres import queries

AUDIT = queries.load("audit")
OUTBOX = queries.load("outbox")


class Actor(Protocol):
    """Who makes a change: an API key's principal, or Tarif itself."""

    @property
    def actor(self) -> str: ...

    @property
    def role(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Process:
    """Tarif's own work (the batch's jobs, the housekeeping): audited as `system`."""

    actor: str = "system"
    role: str = "admin"


SYSTEM = Process()


async def audit(
    conn: asyncpg.Connection,
    who: Actor,
    action: str,
    object_type: str,
    object_id: str,
    before: Any = None,
    after: Any = None,
) -> None:
    """One audit entry; call inside the transaction of the change, so both land together."""
    await conn.execute(
        AUDIT.insert_audit_record,
        who.actor,
        str(who.role),
        action,
        object_type,
        object_id,
        _plain(before),
        _plain(after),
    )


def _plain(value: Any) -> Any:
    """JSON-safe (dates, decimals as strings)."""
    return None if value is None else json.loads(json.dumps(value, default=str))


async def queue(conn: asyncpg.Connection, kind: str, key: str) -> None:
    """Queue one object (`account`, `group`, `catalog`) for the relay."""
    await conn.execute(OUTBOX.queue_change, kind, key)


async def queue_customer(conn: asyncpg.Connection, customer_id: int) -> list[str]:
    """Queue every balance group (engine account) of a customer; returns their account ids."""
    rows = await conn.fetch(OUTBOX.queue_customer_accounts, customer_id)
    return [r["key"] for r in rows]
