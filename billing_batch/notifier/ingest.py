"""From the engine's notification streams to Postgres, with the deliveries each one needs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import asyncpg

from billing_batch.metrics import BatchMetrics
from billing_batch.streams import Entry
from tarif_catalog.model import Resource
from tarif_notifications import store
from tarif_notifications.model import Notification, Recipient, UnreadableEntry, from_entry
from tarif_notifications.store import Contact

_ADDRESS = {"email": "email", "sms": "phone"}


def recipients(
    n: Notification, contacts: Sequence[Contact], channels: set[str], webhook_url: str | None
) -> list[Recipient]:
    """One delivery per channel and address; a channel that cannot deliver says why."""
    found = []
    for channel in n.channels:
        if channel not in channels:
            found.append(Recipient(channel, "", f"{channel} channel not configured"))
        elif channel == "webhook":
            found.append(Recipient(channel, webhook_url or ""))
        else:
            field = _ADDRESS[channel]
            addresses = sorted({a for c in contacts if (a := getattr(c, field))})
            found += [Recipient(channel, address) for address in addresses]
            if not addresses:
                found.append(Recipient(channel, "", f"no {field} among the account's contacts"))
    return found


class NotificationIngest:
    """The StreamIngestor handler for `tarif:{p}:notif`."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        resources: Callable[[], dict[str, Resource]],
        channels: set[str],
        webhook_url: str | None,
        metrics: BatchMetrics,
        on_stored: Callable[[], None],
    ) -> None:
        self._pool = pool
        self._resources = resources
        self._channels = channels
        self._webhook_url = webhook_url
        self._metrics = metrics
        self._on_stored = on_stored

    def _recipients(self, n: Notification, contacts: Sequence[Contact]) -> list[Recipient]:
        return recipients(n, contacts, self._channels, self._webhook_url)

    async def __call__(self, entries: Sequence[Entry]) -> list[Entry]:
        resources = self._resources()
        parsed, unreadable = [], []
        for entry in entries:
            try:
                parsed.append(from_entry(entry.fields, resources))
            except UnreadableEntry:
                unreadable.append(entry)
        async with self._pool.acquire() as conn:
            contacts = await store.contacts_of(conn, sorted({n.account_id for n in parsed}))
            items = [
                (
                    n,
                    recipients(
                        n, contacts.get(n.account_id, []), self._channels, self._webhook_url
                    ),
                )
                for n in parsed
            ]
            await store.add_notifications(conn, items)
        for _, planned in items:
            for r in planned:
                if r.skip:
                    self._metrics.deliveries.labels(r.channel, "skipped").inc()
        if items:
            self._on_stored()
        return unreadable
