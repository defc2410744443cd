"""Postgres side of notifications: contacts, the notifications kept, and their deliveries.

Deliveries are claimed with `FOR UPDATE SKIP LOCKED` under a lease, so several notifiers share
the work and a delivery held by a notifier that died is taken again once its lease ends. A
result is recorded only by the holder of the current attempt (status `sending`, same attempt).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from tarif_notifications.model import Notification, Outgoing, Recipient
from tarif_postgres import queries

Q = queries.load("notifications")


@dataclass(frozen=True, slots=True)
class Contact:
    tag: str
    email: str | None = None
    phone: str | None = None


async def put_contacts(
    conn: asyncpg.Connection, account_id: str, contacts: Sequence[Contact]
) -> None:
    """Replace an account's contacts (the provisioning document is the whole truth for it)."""
    async with conn.transaction():
        await conn.execute(Q.delete_contacts, account_id)
        await conn.executemany(
            Q.insert_contact, [(account_id, c.tag, c.email, c.phone) for c in contacts]
        )


async def contacts_of(
    conn: asyncpg.Connection, account_ids: Sequence[str]
) -> dict[str, list[Contact]]:
    # a customer's contacts are kept under its main account; its other balance groups use them
    rows = await conn.fetch(Q.contacts_of_accounts, list(account_ids))
    found: dict[str, list[Contact]] = {}
    for row in rows:
        found.setdefault(row["account_id"], []).append(
            Contact(row["tag"], row["email"], row["phone"])
        )
    return found


async def add_notifications(
    conn: asyncpg.Connection, items: Sequence[tuple[Notification, Sequence[Recipient]]]
) -> int:
    """Store notifications and their deliveries in one transaction; a replay adds nothing."""
    added = 0
    async with conn.transaction():
        for n, recipients in items:
            notification_id = await conn.fetchval(
                Q.insert_notification,
                n.account_id,
                n.source_id,
                n.subscriber,
                n.type,
                n.threshold_id,
                n.resource,
                n.direction,
                n.threshold_level,
                n.value,
                n.decimals,
                n.unit,
                n.event_time,
                n.fired_at,
            )
            if notification_id is None:
                continue  # stored before a crash, acknowledged now
            added += 1
            await conn.executemany(
                Q.insert_delivery,
                [
                    (
                        notification_id,
                        r.channel,
                        r.address,
                        "skipped" if r.skip else "pending",
                        r.skip,
                    )
                    for r in recipients
                ],
            )
    return added


async def claim(conn: asyncpg.Connection, limit: int, lease: float) -> list[Outgoing]:
    """Take up to `limit` due deliveries for `lease` seconds; counts the attempt."""
    async with conn.transaction():
        rows = await conn.fetch(Q.claim_deliveries, limit, lease)
        interrupted = [(r["delivery_id"], r["attempts"] - 1) for r in rows if r["was"] == "sending"]
        if interrupted:
            # the previous holder died mid-attempt: say so in the attempt history
            await conn.executemany(Q.insert_interrupted_attempt, interrupted)
    return [
        Outgoing(r["delivery_id"], r["channel"], r["recipient"], r["attempts"], _notification(r))
        for r in rows
    ]


async def delivered(conn: asyncpg.Connection, out: Outgoing, detail: str) -> bool:
    """Record success; False if the lease was lost (another sender holds a later attempt)."""
    async with conn.transaction():
        done = await conn.fetchval(Q.mark_delivered, out.delivery_id, out.attempt)
        await _attempt(conn, out, "delivered", detail)
    return done is not None


async def failed(
    conn: asyncpg.Connection, out: Outgoing, detail: str, retry_in: float | None
) -> str | None:
    """Record a failure: retry after `retry_in` seconds, or dead-letter it when None.

    Returns the new status, or None if the lease was lost.
    """
    status = "dead" if retry_in is None else "pending"
    async with conn.transaction():
        done = await conn.fetchval(
            Q.mark_failed,
            out.delivery_id,
            out.attempt,
            status,
            detail[:2000],
            retry_in or 0.0,
        )
        await _attempt(conn, out, "failed", detail)
    return status if done is not None else None


async def _attempt(conn: asyncpg.Connection, out: Outgoing, outcome: str, detail: str) -> None:
    await conn.execute(Q.insert_attempt, out.delivery_id, out.attempt, outcome, detail[:2000])


def _notification(row: Mapping[str, Any]) -> Notification:
    return Notification(
        id=row["id"],
        account_id=row["account_id"],
        source_id=row["source_id"],
        subscriber=row["subscriber"],
        type=row["type"],
        threshold_id=row["threshold_id"],
        resource=row["resource"],
        direction=row["direction"],
        threshold_level=int(row["threshold_level"]),
        value=int(row["value"]),
        decimals=row["decimals"],
        unit=row["unit"],
        event_time=row["event_time"],
        fired_at=row["fired_at"],
        channels=(),
    )


async def list_notifications(
    conn: asyncpg.Connection,
    *,
    subscriber: str | None = None,
    account_id: str | None = None,
    accounts: Sequence[str] | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Notifications of a subscriber (or of accounts: a customer's balance groups), newest
    first, each with its deliveries.

    Keyset pagination: pass the last `id` seen as `before_id` for the next page.
    """
    if account_id is not None:
        accounts = [account_id]
    if (subscriber is None) == (accounts is None):
        raise ValueError("give exactly one of subscriber or account_id/accounts")
    rows = await conn.fetch(
        Q.notifications_page,
        subscriber,
        None if accounts is None else list(accounts),
        before_id,
        limit,
    )
    listed = []
    for row in rows:
        item = _notification(row).as_json()
        item["deliveries"] = row["deliveries"]
        listed.append(item)
    return listed


async def waiting(conn: asyncpg.Connection) -> int:
    """Deliveries not yet done (pending, retrying or in flight): a gauge for operations."""
    count: int = await conn.fetchval(Q.waiting_deliveries)
    return count
