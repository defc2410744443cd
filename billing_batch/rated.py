"""Rated records from the engine's `tarif:{p}:rated` streams into Postgres (`rated_events`).

A batch is COPYed into a temporary table and moved with `INSERT ... ON CONFLICT DO NOTHING`, in
one transaction, before the entries are acknowledged: nothing lost, nothing twice. Monthly
partitions are created when a month first appears. Records are read with
`tarif_balances.records` and scaled with their own decimals; only records written before they
carried decimals need the catalog (`legacy_decimals`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from billing_batch.streams import Entry
from tarif_balances.records import RatedRecord, UnreadableRecord, impacts_text, parse_record
from tarif_postgres import queries

Q = queries.load("rated")

# Decimals of a currency in the published catalog (None if it has no such currency): only for
# records written before records carried their own (`dec`).
LegacyDecimals = Callable[[str], int | None]


def _no_catalog(currency: str) -> int | None:
    return None


COLUMNS = [
    "account_id", "request_id", "kind", "subscriber", "service", "rate", "event_time",
    "charged_at", "units", "rated_units", "cost", "currency", "uncovered", "impacts",
    "session_id", "refunded", "attributes", "reason",
]  # fmt: skip
_LOCK = int.from_bytes(b"trpt", "big")  # advisory lock: one partition creator at a time


def decimals_of(record: RatedRecord, legacy_decimals: LegacyDecimals) -> int:
    """The decimals to scale a record's money with: its own, else (an older record) the
    catalog's for its currency. Amounts of zero or without a currency need none."""
    if record.decimals is not None:
        return record.decimals
    if not record.currency or (record.cost == 0 and record.uncovered == 0):
        return 0
    found = legacy_decimals(record.currency)
    if found is None:  # stays pending (and counted) until the catalog knows the currency
        raise UnreadableRecord(f"{record.request_id}: no decimals for {record.currency}")
    return found


def to_row(f: dict[str, str], legacy_decimals: LegacyDecimals = _no_catalog) -> tuple[Any, ...]:
    """One stream entry as a `rated_events` row; UnreadableRecord if it is not one."""
    record = parse_record(f)
    scale = decimals_of(record, legacy_decimals)
    return (
        record.account_id,
        record.request_id,
        record.kind.value,
        record.subscriber,
        record.service,
        record.rate,
        record.event_time,
        record.charged_at,
        record.units,
        record.rated_units,
        Decimal(record.cost).scaleb(-scale),
        record.currency,
        Decimal(record.uncovered).scaleb(-scale),
        impacts_text(record.impacts),
        record.session_id,
        record.refunded_event,
        json.dumps(record.attributes),
        record.reason,
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

    def __init__(self, pool: asyncpg.Pool, legacy_decimals: LegacyDecimals = _no_catalog) -> None:
        self._pool = pool
        self._legacy_decimals = legacy_decimals

    async def __call__(self, entries: Sequence[Entry]) -> list[Entry]:
        rows, unreadable = [], []
        for entry in entries:
            try:
                rows.append(to_row(entry.fields, self._legacy_decimals))
            except (UnreadableRecord, ArithmeticError):
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
