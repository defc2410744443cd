"""Rated records from the engine's `tarif:{p}:rated` streams into Postgres (`rated_events`).

A batch is COPYed into a temporary table and moved with `INSERT ... ON CONFLICT DO NOTHING`, in
one transaction, before the entries are acknowledged: nothing lost, nothing twice. Monthly
partitions are created when a month first appears.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from billing_batch.streams import Entry
from tarif_catalog.model import Resource, currency_decimals
from tarif_common.keys import ms_time
from tarif_postgres import queries

Q = queries.load("rated")

COLUMNS = [
    "account_id", "request_id", "kind", "subscriber", "service", "rate", "event_time",
    "charged_at", "units", "rated_units", "cost", "currency", "uncovered", "impacts",
    "session_id", "refunded", "attributes", "reason",
]  # fmt: skip
_LOCK = int.from_bytes(b"trpt", "big")  # advisory lock: one partition creator at a time


def to_row(f: dict[str, str], resources: dict[str, Resource]) -> tuple[Any, ...]:
    """One stream entry as a `rated_events` row; KeyError/ValueError if it is not one."""
    currency = f.get("cur", "")
    scale = currency_decimals(resources, currency) if currency else 0
    attributes = json.loads(f.get("attrs") or "{}")
    return (
        f["acct"],
        f["id"],
        f["k"],
        f.get("sub", ""),
        f.get("svc", ""),
        f.get("rate", ""),
        ms_time(f["t"]),
        ms_time(f["at"]),
        int(f.get("u") or 0),
        int(f.get("ru") or 0),
        Decimal(int(f.get("cost") or 0)).scaleb(-scale),
        currency,
        Decimal(int(f.get("unc") or 0)).scaleb(-scale),
        f.get("imp", ""),
        f.get("sid", ""),
        f.get("ref", ""),
        json.dumps(attributes if isinstance(attributes, dict) else {}),
        f.get("reason", ""),
    )


def _month(at: datetime) -> tuple[datetime, datetime]:
    start = datetime(at.year, at.month, 1, tzinfo=UTC)
    end = datetime(at.year + (at.month == 12), at.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


async def ensure_partitions(conn: asyncpg.Connection, times: Sequence[datetime]) -> None:
    months = {_month(t.astimezone(UTC)) for t in times}
    existing = {r["relname"] for r in await conn.fetch(Q.rated_partitions)}
    for start, end in sorted(months):
        name = f"rated_events_{start:%Y_%m}"
        if name in existing:
            continue
        async with conn.transaction():
            await conn.execute(Q.lock_partition_creation, _LOCK)
            # identifiers from dates only: no input reaches this statement
            await conn.execute(
                queries.compose(
                    Q.create_rated_partition,
                    partition=name,
                    start=start.isoformat(),
                    end=end.isoformat(),
                )
            )


class RatedIngest:
    """The StreamIngestor handler for `tarif:{p}:rated`."""

    def __init__(self, pool: asyncpg.Pool, resources: Callable[[], dict[str, Resource]]) -> None:
        self._pool = pool
        self._resources = resources

    async def __call__(self, entries: Sequence[Entry]) -> list[Entry]:
        resources = self._resources()
        rows, unreadable = [], []
        for entry in entries:
            try:
                rows.append(to_row(entry.fields, resources))
            except (KeyError, ValueError, ArithmeticError):
                unreadable.append(entry)
        if not rows:
            return unreadable
        async with self._pool.acquire() as conn:
            await ensure_partitions(conn, [row[6] for row in rows])
            async with conn.transaction():
                # COPY speaks binary, jsonb travels as text: cast on the way in
                await conn.execute(Q.create_rated_batch)
                await conn.copy_records_to_table("rated_batch", records=rows, columns=COLUMNS)
                names = ", ".join(COLUMNS)
                selected = names.replace("attributes", "attributes::jsonb")
                await conn.execute(
                    queries.compose(Q.move_rated_batch, columns=names, selected=selected)
                )
        return unreadable
