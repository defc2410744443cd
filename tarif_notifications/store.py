"""Postgres side of notifications: contacts, the notifications kept, and their deliveries.

Deliveries are claimed with `FOR UPDATE SKIP LOCKED` under a lease, so several notifiers share
the work and a delivery held by a notifier that died is taken again once its lease ends. A
result is recorded only by the holder of the current attempt (status `sending`, same attempt).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from tarif_common.contacts import DETAILS
from tarif_common.contacts import Contact as ContactCard
from tarif_notifications.model import Notification, Outgoing, Recipient, SelfcareMail
from tarif_postgres import queries

Q = queries.load("notifications")
CONTACTS = queries.load("contacts")


@dataclass(frozen=True, slots=True)
class Contact:
    """A contact as stored: the notifier reads tag, e-mail and phone; the rest is the card the
    back office shows (name, organisation, postal address)."""

    tag: str
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    organisation: str | None = None
    address_lines: tuple[str, ...] | None = None
    city: str | None = None
    postcode: str | None = None
    country: str | None = None

    @classmethod
    def of(cls, card: ContactCard) -> Contact:
        """The stored form of a validated contact (provisioning document or API body)."""
        lines = tuple(card.address_lines) if card.address_lines is not None else None
        values = {name: getattr(card, name) for name in DETAILS} | {"address_lines": lines}
        return cls(card.tag, **values)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Contact:
        lines = row["address_lines"]
        values = {name: row[name] for name in DETAILS} | {
            "address_lines": tuple(lines) if lines is not None else None
        }
        return cls(row["tag"], **values)

    def as_json(self) -> dict[str, Any]:
        """The contact as the API shows it: what it does not have is left out."""
        shown = {"tag": self.tag} | {name: getattr(self, name) for name in DETAILS}
        if self.address_lines is not None:
            shown["address_lines"] = list(self.address_lines)
        return {k: v for k, v in shown.items() if v is not None}

    def args(self, account_id: str) -> tuple[Any, ...]:
        """The arguments of `insert_contact` and `update_contact`."""
        lines = list(self.address_lines) if self.address_lines is not None else None
        return (
            account_id, self.tag, self.email, self.phone, self.first_name, self.last_name,
            self.organisation, lines, self.city, self.postcode, self.country,
        )  # fmt: skip


async def add_contacts(
    conn: asyncpg.Connection, account_id: str, contacts: Sequence[Contact]
) -> None:
    """Add contacts to an account; a tag it has already is a Duplicate."""
    await conn.executemany(CONTACTS.insert_contact, [c.args(account_id) for c in contacts])


async def put_contacts(
    conn: asyncpg.Connection, account_id: str, contacts: Sequence[Contact]
) -> None:
    """Replace an account's contacts (the provisioning document is the whole truth for it)."""
    async with conn.transaction():
        await conn.execute(CONTACTS.delete_contacts, account_id)
        await add_contacts(conn, account_id, contacts)


async def contacts_of_account(conn: asyncpg.Connection, account_id: str) -> list[Contact]:
    """Every contact of one account, by tag."""
    rows = await conn.fetch(CONTACTS.contacts_of_account, account_id)
    return [Contact.from_row(r) for r in rows]


async def contacts_of(
    conn: asyncpg.Connection, account_ids: Sequence[str]
) -> dict[str, list[Contact]]:
    # a customer's contacts are kept under its main account; its other balance groups use them
    rows = await conn.fetch(CONTACTS.contacts_of_accounts, list(account_ids))
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
        Outgoing(r["delivery_id"], r["channel"], r["recipient"], r["attempts"], _message(r))
        for r in rows
    ]


def _message(row: Mapping[str, Any]) -> Notification | SelfcareMail:
    if row["selfcare_mail_id"] is None:
        return _notification(row)
    return SelfcareMail(
        id=row["selfcare_mail_id"],
        customer_id=row["mail_customer_id"],
        purpose=row["mail_purpose"],
        email=row["recipient"],
        token=row["mail_token"] or "",
        expires_at=row["mail_expires_at"],
    )


async def delivered(conn: asyncpg.Connection, out: Outgoing, detail: str) -> bool:
    """Record success; False if the lease was lost (another sender holds a later attempt)."""
    async with conn.transaction():
        done = await conn.fetchval(Q.mark_delivered, out.delivery_id, out.attempt)
        await _attempt(conn, out, "delivered", detail)
        if isinstance(out.notification, SelfcareMail):
            await conn.execute(Q.forget_selfcare_token, out.delivery_id)
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
        if done is not None and status == "dead" and isinstance(out.notification, SelfcareMail):
            await conn.execute(Q.forget_selfcare_token, out.delivery_id)
    return status if done is not None else None


async def queue_selfcare_mail(
    conn: asyncpg.Connection,
    customer_id: int,
    purpose: str,
    email: str,
    token: str,
    expires_at: datetime,
) -> int:
    """Queue a token mail for the notifier's e-mail channel; returns the delivery's id.

    Run it in the transaction that stores the token's digest: the mail goes out only if the
    token was kept. An older mail of the same purpose not yet sent is skipped (its token no
    longer works)."""
    await cancel_selfcare_mails(conn, customer_id, purpose, "superseded by a newer token")
    mail_id = await conn.fetchval(Q.insert_selfcare_mail, customer_id, purpose, token, expires_at)
    delivery_id: int = await conn.fetchval(Q.insert_selfcare_delivery, mail_id, email)
    return delivery_id


async def cancel_selfcare_mails(
    conn: asyncpg.Connection, customer_id: int, purpose: str | None, why: str
) -> None:
    """Skip a customer's self-care mails not yet sent (of one purpose, or all)."""
    await conn.execute(Q.cancel_selfcare_mails, customer_id, purpose, why)


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
