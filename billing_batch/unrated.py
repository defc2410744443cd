"""Unratable usage from the engine's `tarif:unrated` stream into Postgres (`unrated_events`).

Listing, correcting and re-rating it is the back office's work (`admin_api/unrated.py`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from billing_batch.metrics import BatchMetrics
from billing_batch.streams import Entry
from tarif_common.keys import ms_time
from tarif_postgres import queries

Q = queries.load("unrated")


class UnratedIngest:
    """The StreamIngestor handler for `tarif:unrated`."""

    def __init__(self, pool: asyncpg.Pool, metrics: BatchMetrics) -> None:
        self._pool = pool
        self._metrics = metrics

    async def __call__(self, entries: Sequence[Entry]) -> list[Entry]:
        rows, unreadable = [], []
        for entry in entries:
            try:
                rows.append(_row(entry.fields))
            except (KeyError, ValueError):
                unreadable.append(entry)
        async with self._pool.acquire() as conn:
            # A re-rate that is still unratable comes back under its re-rate id: the row that
            # sent it records the outcome, so it is not kept a second time.
            await conn.executemany(Q.insert_unrated_event, rows)
        return unreadable


def _row(f: Mapping[str, str]) -> tuple[Any, ...]:
    event_id = f["id"].removeprefix("e:")
    attributes = json.loads(f.get("attrs") or "{}")
    if not isinstance(attributes, dict):
        raise ValueError("attrs is not an object")
    return (
        event_id,
        f["reason"],
        f.get("m", ""),
        f["sub"],
        f["svc"],
        ms_time(f["t"]),
        int(f["u"]),
        attributes,
        ms_time(f["at"]),
    )


async def open_counts(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch(Q.open_unrated_counts)
    return {row["reason"]: row["n"] for row in rows}
