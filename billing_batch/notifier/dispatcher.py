"""Sends due deliveries through their channel and records each attempt.

Exponential backoff between attempts, dead-letter after the last one; a dead delivery is an
activity-log entry and an alert (one open alert per channel, counting), and an operator may put
it back to pending (admin API: re-send). Claims are leased (see
store.claim), so a dispatcher that dies mid-send leaves its deliveries to be taken again after
the lease: nothing is lost; a receiver may see a message a second time only if the sender died
after the receiver accepted it and before the result was recorded, and then with the same id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import asyncpg

from billing_batch.metrics import BatchMetrics
from billing_batch.notifier.channels import Channel, DeliveryFailed
from tarif_common.lifecycle import sleep_unless
from tarif_jobs.failures import record_failure
from tarif_jobs.runs import ItemRef
from tarif_notifications import store
from tarif_notifications.model import Outgoing
from tarif_postgres.driver import DB_ERRORS

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    backoff: float
    backoff_max: float

    def retry_in(self, attempt: int) -> float | None:
        """Seconds before the next attempt after failed attempt `attempt`; None: give up."""
        if attempt >= self.max_attempts:
            return None
        return float(min(self.backoff_max, self.backoff * 2 ** (attempt - 1)))


class Dispatcher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        channels: dict[str, Channel],
        policy: RetryPolicy,
        metrics: BatchMetrics,
        *,
        lease: float,
        concurrency: int,
        idle_poll: float = 1.0,
    ) -> None:
        self._pool = pool
        self._channels = channels
        self._policy = policy
        self._metrics = metrics
        self._lease = lease
        self._concurrency = concurrency
        self._idle_poll = idle_poll
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """New deliveries were stored: look now rather than at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                sent = await self.step()
            except DB_ERRORS as exc:
                log.warning("notifier.retry", extra={"error": repr(exc)})
                await sleep_unless(stop, self._idle_poll)
                continue
            if not sent:
                self._wake.clear()
                waker = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                try:
                    await asyncio.wait(
                        [waker, stopper],
                        timeout=self._idle_poll,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:  # also when this loop is cancelled: no waiter is left pending
                    waker.cancel()
                    stopper.cancel()

    async def step(self) -> int:
        """Claim a batch of due deliveries and try each once; returns how many were tried."""
        async with self._pool.acquire() as conn:
            batch = await store.claim(conn, self._concurrency, self._lease)
        if batch:
            await asyncio.gather(*(self._deliver(out) for out in batch))
        return len(batch)

    async def _deliver(self, out: Outgoing) -> None:
        channel = self._channels.get(out.channel)
        started = time.perf_counter()
        try:
            if channel is None:
                raise DeliveryFailed(f"{out.channel} channel not configured")
            detail = await channel.send(out)
        except DeliveryFailed as exc:
            await self._failed(out, exc.detail)
        except Exception as exc:  # a template or client bug must not kill the loop
            log.exception("notifier.send_error", extra={"delivery": out.delivery_id})
            await self._failed(out, f"internal error: {exc!r}")
        else:
            async with self._pool.acquire() as conn:
                kept = await store.delivered(conn, out, detail)
            self._metrics.deliveries.labels(out.channel, "delivered").inc()
            if not kept:
                log.warning("notifier.lease_lost", extra={"delivery": out.delivery_id})
        finally:
            self._metrics.delivery_seconds.labels(out.channel).observe(
                time.perf_counter() - started
            )

    async def _failed(self, out: Outgoing, detail: str) -> None:
        retry_in = self._policy.retry_in(out.attempt)
        async with self._pool.acquire() as conn, conn.transaction():
            status = await store.failed(conn, out, detail, retry_in)
            if status == "dead":  # given up: operators see it, and may re-send it (admin API)
                await record_failure(
                    conn,
                    "notifier.delivery",
                    ItemRef("notification_delivery", str(out.delivery_id)),
                    f"{out.channel} delivery {out.delivery_id} to {out.recipient} is dead"
                    f" after {out.attempt} attempts: {detail}",
                    cause=f"the {out.channel} channel refused the message or could not be"
                    " reached on every attempt",
                    alert_key=f"notifier.dead:{out.channel}",
                )
        outcome = "dead" if retry_in is None else "failed"
        self._metrics.deliveries.labels(out.channel, outcome).inc()
        log.warning(
            "notifier.delivery_failed",
            extra={
                "delivery": out.delivery_id,
                "channel": out.channel,
                "attempt": out.attempt,
                "status": status,
                "error": detail,
            },
        )
