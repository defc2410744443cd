"""A billing_batch App beside the test engine, and helpers to cross a threshold."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from billing_batch.app import BatchApp
from tarif_common.settings import Settings
from tests.integration.harness import Engine, account, catalog, eur
from tests.integration.requests import sms

SECRET = "whsec_" + "c2VjcmV0LWZvci10aGUtdGVzdHM="  # base64 of "secret-for-the-tests"


def alerting_catalog(*channels: str) -> dict[str, Any]:
    """The demo catalog with a profile `alerts`: 80 % of the initial EUR used, on `channels`."""
    doc = catalog()
    threshold = {
        "id": "low",
        "resource": "EUR",
        "basis": "percent_of_initial",
        "value": 80,
        "type": "credit_low",
        "channels": list(channels),
    }
    doc["credit_profiles"]["alerts"] = {"thresholds": [threshold]}
    return doc


async def cross_threshold(engine: Engine, account_id: str, msisdn: str, *channels: str) -> None:
    """1.00 EUR, 16 SMS at 0.05: the 16th leaves 0.20, the 80 % point."""
    await engine.provision(
        account(account_id, msisdn, eur("1.00"), credit_profile="alerts"),
        catalog_doc=alerting_catalog(*channels),
    )
    for i in range(16):
        await engine.stub.ChargeEvent(sms(msisdn, f"{account_id}-{i}", engine.clock.now))


def batch_settings(redis_url: str, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "database_url": database_url,
        "batch_metrics_addr": "127.0.0.1:0",
        "batch_consumer": "test",
        "stream_claim_idle": 0.5,
        "notify_backoff": 0.05,
        "notify_backoff_max": 0.2,
        "notify_timeout": 2.0,
        "notify_lease": 3.0,
    }
    return Settings(**(values | overrides))


@asynccontextmanager
async def running_batch(
    redis_url: str, database_url: str, **overrides: Any
) -> AsyncIterator[BatchApp]:
    settings = batch_settings(redis_url, database_url, **overrides)
    async with BatchApp(settings, serve_metrics=False, idle_poll=0.05) as app:
        yield app


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool], within: float = 10.0
) -> None:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
