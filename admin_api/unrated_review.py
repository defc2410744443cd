"""Unratable usage reviewed from the back office: a correction or a re-rate, each audited
(`admin_api.unrated` holds the rows; the CLI corrects and re-rates through it too)."""

from __future__ import annotations

from typing import Any

import asyncpg

from admin_api import audit, unrated
from admin_api.auth import Principal
from admin_api.schemas import Correction
from tarif_client.engine import Engine


async def correct(
    conn: asyncpg.Connection, who: Principal, event_id: int, body: Correction
) -> dict[str, Any]:
    """The event as corrected; its audit record lands with the correction."""
    async with conn.transaction():
        before = await unrated.get_unrated(conn, event_id)
        after = await unrated.correct(
            conn,
            event_id,
            subscriber=body.subscriber,
            service=body.service,
            set_attributes=body.set_attributes,
            remove_attributes=body.remove_attributes,
        )
        await audit.record(
            conn, who, "unrated.correct", "unrated_event", str(event_id), before, after
        )
    return after


async def rerate(
    pool: asyncpg.Pool, engine: Engine, who: Principal, event_id: int
) -> dict[str, Any]:
    """The event after the engine's answer (a re-rated event answers as it is)."""
    done = await unrated.rerate(pool, engine, event_id)
    async with pool.acquire() as conn:
        await audit.record(conn, who, "unrated.rerate", "unrated_event", str(event_id), None, done)
    return done
