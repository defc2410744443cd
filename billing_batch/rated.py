"""Rated records from the engine's `tarif:{p}:rated` streams into Postgres (`rated_events`).

A batch is COPYed into `rated_events` in one transaction before the entries are acknowledged;
a batch holding a record stored before goes again through `INSERT ... ON CONFLICT DO NOTHING`:
nothing lost, nothing twice (`RatedIngest`). Monthly partitions are created when a month first
appears. Records are read with `tarif_balances.records` and scaled with their own decimals; only
records written before they carried decimals need the catalog (`legacy_decimals`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from billing_batch.streams import Entry
from tarif_balances.records import (
    BATCH,
    RECORDS_SEPARATOR,
    RatedRecord,
    UnreadableRecord,
    entry_records,
    impacts_text,
    read_flat,
)
from tarif_common.errors import DatabaseError, Duplicate
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
    "session_id", "refunded", "attributes", "reason", "x_request_id",
]  # fmt: skip
_LOCK = int.from_bytes(b"trpt", "big")  # advisory lock: one partition creator at a time
_NO_PARTITION = "23514"  # check_violation: "no partition of relation ... found for row"
_SLICE = 100  # records converted between two turns of the event loop while parts are stored
_PARTS_AT_ONCE = 2  # parts of a batch stored together (connections taken from the pool)


def decimals_of(record: RatedRecord, legacy_decimals: LegacyDecimals) -> int:
    """The decimals to scale a record's money with: its own, else (an older record) the
    catalog's for its currency. Amounts of zero or without a currency need none."""
    return _scale(
        record.decimals,
        record.currency,
        record.cost,
        record.uncovered,
        record.request_id,
        legacy_decimals,
    )


def _scale(
    decimals: int | None,
    currency: str,
    cost: int,
    uncovered: int,
    request_id: str,
    legacy_decimals: LegacyDecimals,
) -> int:
    if decimals is not None:
        return decimals
    if not currency or (cost == 0 and uncovered == 0):
        return 0
    found = legacy_decimals(currency)
    if found is None:  # stays pending (and counted) until the catalog knows the currency
        raise UnreadableRecord(f"{request_id}: no decimals for {currency}")
    return found


_ZEROS = tuple(Decimal(0).scaleb(-decimals) for decimals in range(19))  # 0, 0.0, 0.00, ...


def _amount(minor: int, decimals: int) -> Decimal:
    if minor == 0 and 0 <= decimals <= 18:  # most `unc`: Decimals are immutable, share them
        return _ZEROS[decimals]
    return Decimal(minor).scaleb(-decimals)


def record_row(
    record: RatedRecord, legacy_decimals: LegacyDecimals = _no_catalog
) -> tuple[Any, ...]:
    """A parsed record as a `rated_events` row (`to_row` is held equal to this by tests)."""
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
        record.attributes,
        record.reason,
        record.x_request_id or None,
    )


def to_row(f: Mapping[str, str], legacy_decimals: LegacyDecimals = _no_catalog) -> tuple[Any, ...]:
    """One stream entry as a `rated_events` row; UnreadableRecord if it is not one.

    The ingestion's hot path: `read_flat`, not `parse_record` and `record_row` (the same row,
    about a third of the cost)."""
    (
        request_id, kind, account_id, subscriber, service, rate, event_time, charged_at, units,
        rated_units, cost, currency, decimals, impacts, uncovered, session_id, attributes,
        refunded, reason, x_request_id,
    ) = read_flat(f)  # fmt: skip
    scale = _scale(decimals, currency, cost, uncovered, request_id, legacy_decimals)
    return (
        account_id, request_id, kind, subscriber, service, rate, event_time, charged_at, units,
        rated_units, _amount(cost, scale), currency, _amount(uncovered, scale), impacts,
        session_id, refunded, attributes, reason, x_request_id or None,
    )  # fmt: skip


def to_rows(
    f: Mapping[str, str], legacy_decimals: LegacyDecimals = _no_catalog
) -> list[tuple[Any, ...]]:
    """The `rated_events` rows of a stream entry: one per record (a chunk of `event.lua` writes
    its records as one entry); UnreadableRecord if any of them is not one."""
    return [to_row(record, legacy_decimals) for record in entry_records(f)]


def record_count(entry: Entry) -> int:
    """How many records an entry holds (`tarif_batch_records_ingested`): those of a chunk's
    entry, counted without reading them; one for an entry holding a single record."""
    texts = entry.fields.get(BATCH)
    return 1 if texts is None else texts.count(RECORDS_SEPARATOR) + 1


def _month(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _months(times: Iterable[datetime]) -> set[tuple[int, int]]:
    return {(t.year, t.month) for t in (at.astimezone(UTC) for at in times)}


async def ensure_partitions(conn: asyncpg.Connection, times: Sequence[datetime]) -> None:
    """Create the monthly partitions of `times` that do not exist yet."""
    await _ensure_months(conn, _months(times))


async def _ensure_months(conn: asyncpg.Connection, months: set[tuple[int, int]]) -> None:
    existing = {r["relname"] for r in await conn.fetch(Q.rated_partitions)}
    for start, end in sorted(_month(year, month) for year, month in months):
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
    """The StreamIngestor handler for `tarif:{p}:rated`.

    A batch is COPYed straight into `rated_events`, one write per record, in one transaction:
    the common case, where no record of the batch is stored yet. If one is (a replayed entry, or
    a record twice in the batch) the primary key refuses the COPY, the transaction rolls back
    whole, and the batch goes again through a temporary table and `INSERT ... ON CONFLICT DO
    NOTHING`, which skips what is stored. Either way the batch commits before the entries are
    acknowledged. The months whose partitions exist are remembered (no catalog query per batch);
    a partition dropped since is created again, as for a new month.

    A batch of more than `part` records is stored in parts, each on its own connection and in
    its own transaction, two at a time: Postgres stores a part while the next is converted. If
    a part fails, the call fails and every entry stays pending; the parts that committed are
    skipped when the entries come again (the primary key, as for any replay)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        legacy_decimals: LegacyDecimals = _no_catalog,
        *,
        part: int = 1_000,
    ) -> None:
        self._pool = pool
        self._legacy_decimals = legacy_decimals
        self._part = part
        self._months: set[tuple[int, int]] = set()  # whose partitions exist: no catalog query

    async def __call__(self, entries: Sequence[Entry]) -> list[Entry]:
        unreadable: list[Entry] = []
        stores: list[asyncio.Task[None]] = []
        try:
            rows: list[tuple[Any, ...]] = []
            last = len(entries) - 1
            for i, entry in enumerate(entries):
                if stores and i % _SLICE == 0:
                    await asyncio.sleep(0)  # the parts started go on talking to Postgres
                try:  # an entry's records are stored together, or kept pending together
                    rows.extend(to_rows(entry.fields, self._legacy_decimals))
                except (UnreadableRecord, ArithmeticError):
                    unreadable.append(entry)
                # a part is `part` records (an entry may hold a chunk's: parts count records)
                if not rows or (len(rows) < self._part and i < last):
                    continue
                running = [task for task in stores if not task.done()]
                if len(running) >= _PARTS_AT_ONCE:  # a bounded share of the pool
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                if any(t.done() and not t.cancelled() and t.exception() for t in stores):
                    break  # the call fails below: storing more would be in vain
                stores.append(asyncio.create_task(self._store(rows)))
                rows = []
                await asyncio.sleep(0)
        except BaseException:
            for task in stores:
                task.cancel()
            await asyncio.gather(*stores, return_exceptions=True)
            raise
        for outcome in await asyncio.gather(*stores, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome  # the entries stay pending; parts committed replay as no-ops
        return unreadable

    async def _store(self, rows: list[tuple[Any, ...]]) -> None:
        months = _months(row[6] for row in rows)
        async with self._pool.acquire() as conn:
            if not months <= self._months:
                await _ensure_months(conn, months)
                self._months |= months
            try:
                await _copy(conn, rows)
            except DatabaseError as exc:
                if exc.sqlstate != _NO_PARTITION:
                    raise
                # a partition known to exist was dropped since (an archived month): as for a
                # month never seen, create it again
                self._months.clear()
                await _ensure_months(conn, months)
                self._months |= months
                await _copy(conn, rows)


async def _copy(conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
    try:
        async with conn.transaction():
            await conn.copy_records_to_table("rated_events", records=rows, columns=COLUMNS)
    except Duplicate:
        async with conn.transaction():
            await conn.execute(Q.create_rated_batch)
            await conn.copy_records_to_table("rated_batch", records=rows, columns=COLUMNS)
            await conn.execute(queries.compose(Q.move_rated_batch, columns=", ".join(COLUMNS)))
