"""Kill the notifier (a real `tarif batch` process) in the middle of a delivery, restart it:
nothing lost, nothing accepted twice, nothing already delivered sent again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import pytest

from tarif_common.embedded import free_port
from tests.integration.harness import Engine
from tests.integration.notifier_harness import SECRET, cross_threshold, eventually
from tests.servers import http_sink

pytestmark = pytest.mark.fault


@contextmanager
def batch_process(
    redis_url: str, database_url: str, hook: str
) -> Iterator[subprocess.Popen[bytes]]:
    env = os.environ | {
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "TARIF_BATCH_METRICS_ADDR": f"127.0.0.1:{free_port()}",
        "TARIF_BATCH_CONSUMER": "crash-test",
        "TARIF_STREAM_CLAIM_IDLE": "1",
        "TARIF_WEBHOOK_URL": hook,
        "TARIF_WEBHOOK_SECRET": SECRET,
        "TARIF_NOTIFY_CONCURRENCY": "1",  # one delivery at a time: a known order
        "TARIF_NOTIFY_TIMEOUT": "2",
        "TARIF_NOTIFY_LEASE": "3",
        "TARIF_NOTIFY_BACKOFF": "0.1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tarif_cli.main", "batch"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(15)


async def test_killed_mid_delivery_the_notifier_loses_and_doubles_nothing(
    engine: Engine, pg: asyncpg.Pool, redis_url: str, database_url: str
) -> None:
    with http_sink() as sink:
        sink.hold = lambda n, r: n == 2  # the second delivery hangs until we kill the sender
        for i in range(3):
            await cross_threshold(engine, f"k{i}", f"3864000020{i}", "webhook")
        with batch_process(redis_url, database_url, sink.url) as first:
            await eventually(sink.holding.is_set, within=30)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        sink.release.set()  # the held request finds its sender gone: not accepted
        await eventually(lambda: len(sink.received) == 2 and sink.received[1].status == 0)
        with batch_process(redis_url, database_url, sink.url):
            await eventually(lambda: len(sink.accepted()) == 3, within=30)
            async with pg.acquire() as conn:

                async def all_delivered() -> bool:
                    statuses = await conn.fetch("SELECT status FROM notification_deliveries")
                    return [r["status"] for r in statuses] == ["delivered"] * 3

                await eventually(all_delivered, within=10)
                interrupted = await conn.fetchval(
                    "SELECT count(*) FROM delivery_attempts WHERE outcome = 'interrupted'"
                )
    accepted = Counter(r.headers["webhook-id"] for r in sink.accepted())
    assert len(accepted) == 3
    assert set(accepted.values()) == {1}  # each message accepted once
    sent = Counter(r.headers["webhook-id"] for r in sink.received)
    first_id, held_id = (
        sink.received[0].headers["webhook-id"],
        sink.received[1].headers["webhook-id"],
    )
    assert sent[first_id] == 1  # delivered before the crash: never sent again
    assert sent[held_id] == 2  # in flight at the crash: sent again, with the same id
    assert len(sink.received) == 4
    assert interrupted == 1
