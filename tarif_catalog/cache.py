"""In-process cache of the compiled catalog, refreshed when the catalog version in Redis changes.

Rating never reads Redis: it uses the compiled catalog held here. A publish bumps
`tarif:catalog:version` and announces it on a pub/sub channel; the watcher reacts to the message at
once and also polls the version, so a lost message only delays a refresh by one poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Protocol

from redis.exceptions import RedisError

from tarif_catalog import CompiledCatalog, parse_catalog
from tarif_common import keys
from tarif_common.errors import TarifError
from tarif_common.redis_client import RedisClient

log = logging.getLogger(__name__)


def _compile(raw: bytes | str) -> CompiledCatalog:
    return CompiledCatalog(parse_catalog(json.loads(raw)))


class CatalogSource(Protocol):
    @property
    def current(self) -> CompiledCatalog | None: ...


class CatalogCache:
    def __init__(self, redis: RedisClient, poll_interval: float) -> None:
        self._redis = redis
        self._poll_interval = poll_interval
        self._current: CompiledCatalog | None = None
        self.version = 0

    @property
    def current(self) -> CompiledCatalog | None:
        return self._current

    async def refresh(self) -> bool:
        """Load and compile the catalog if its version moved. Returns whether it changed."""
        raw_version = await self._redis.get(keys.CATALOG_VERSION)
        version = int(raw_version or 0)
        if version == self.version:
            return False
        raw = await self._redis.get(keys.CATALOG)
        if raw is None:
            return False
        try:
            # Off the event loop: a catalog of 100k prefixes takes about a second to compile.
            compiled = await asyncio.to_thread(_compile, raw)
        except (TarifError, ValueError) as exc:
            # Provisioning validates before publishing; keep serving the last good catalog.
            log.error("catalog.invalid", extra={"version": version, "error": str(exc)})
            return False
        self._current = compiled
        self.version = version
        log.info("catalog.loaded", extra={"version": version})
        return True

    async def watch(self, stop: asyncio.Event) -> None:
        """Refresh on every announcement and every poll interval, until `stop` is set.

        Survives Redis going away: the subscription is made again once it answers.
        """
        while not stop.is_set():
            try:
                await self._listen(stop)
            except (TarifError, RedisError, OSError) as exc:
                log.warning("catalog.watch_retry", extra={"error": repr(exc)})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._poll_interval)

    async def _listen(self, stop: asyncio.Event) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(keys.CATALOG_CHANNEL)
            while not stop.is_set():
                await pubsub.get_message(timeout=self._poll_interval)
                await self.refresh()
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
