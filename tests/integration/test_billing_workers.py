"""Billing runs as processes: two `tarif billing run` side by side over the same due profiles,
one killed (SIGKILL) in the middle, then a run again. Every profile is billed once, invoice
numbers are 1..N with no gap and no duplicate, the usage items add up to the rated records,
and the journal balances (the benchmark's own checks, `loadtest.billing_bench.check`)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time

import asyncpg
import pytest

from loadtest import billing_bench
from tests.integration.harness import catalog as demo_catalog

PROFILES, EVENTS = 400, 12_000


def _environment(redis_url: str, database_url: str, state: str) -> dict[str, str]:
    seller = billing_bench.SELLER
    return {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "TARIF_STATE_DIR": state,
        "TARIF_INVOICE_SERIES": billing_bench.SERIES,
        "TARIF_DEFAULT_TAX": "VAT22",
        "TARIF_BILLING_CHUNK": "10",
        "TARIF_SELLER_NAME": seller.name,
        "TARIF_SELLER_ADDRESS": seller.address,
        "TARIF_SELLER_CITY": seller.city,
        "TARIF_SELLER_COUNTRY": seller.country,
        "TARIF_LOG_LEVEL": "WARNING",
        "TARIF_ENVIRONMENT": "test",  # runs as of the data set's month end
    }


async def _invoices(pg: asyncpg.Pool) -> int:
    async with pg.acquire() as conn:
        found: int = await conn.fetchval("SELECT count(*) FROM invoices")
    return found


@pytest.mark.fault
@pytest.mark.slow
@pytest.mark.timeout(400)
async def test_two_runs_side_by_side_one_killed_then_run_again(
    pg: asyncpg.Pool, redis_url: str, database_url: str, tmp_path: object
) -> None:
    from admin_api import catalog

    async with pg.acquire() as conn:
        # the month's partition is built whole by the data set (this worker's tests made one)
        await conn.execute("DROP TABLE IF EXISTS rated_events_2026_11")
        await conn.execute(
            "INSERT INTO customer_types (name) VALUES ('residential'), ('business')"
            " ON CONFLICT DO NOTHING"
        )
        await catalog.publish(conn, None, demo_catalog(), actor="test")
    options = billing_bench.Options(profiles=PROFILES, events=EVENTS, workers=2, chunk=10)
    figures = billing_bench.Figures(options)
    await billing_bench.build(database_url, options, figures)
    await billing_bench.open_all(database_url, figures)

    env = _environment(redis_url, database_url, str(tmp_path))
    run = [sys.executable, "-m", "tarif_cli.main", "billing", "run", "--json", "--at"]
    run.append(billing_bench.MONTH[1].isoformat())
    quiet = asyncio.subprocess.DEVNULL
    first = await asyncio.create_subprocess_exec(*run, env=env, stdout=quiet)
    second = await asyncio.create_subprocess_exec(*run, env=env, stdout=quiet)
    deadline = time.monotonic() + 120
    while await _invoices(pg) < PROFILES // 4:
        assert time.monotonic() < deadline, "the runs issued nothing"
        assert first.returncode is None, "the first run ended before it could be killed"
        await asyncio.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    assert await asyncio.wait_for(first.wait(), 30) == -signal.SIGKILL
    assert await asyncio.wait_for(second.wait(), 300) == 0
    # what the killed run held was rolled back; the next run takes it, once; then nothing is due
    again = await asyncio.create_subprocess_exec(*run, env=env, stdout=quiet)
    assert await asyncio.wait_for(again.wait(), 300) == 0
    last = await asyncio.create_subprocess_exec(*run, env=env, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(last.communicate(), 300)
    assert (last.returncode, json.loads(out)["billed"]) == (0, 0)

    await billing_bench.check(database_url, options, figures)
    assert figures.checks, "no checks ran"
    assert all(figures.checks.values()), figures.checks
