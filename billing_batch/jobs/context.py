"""What a job type's `run_once` is given besides its request: the batch's connections, settings
and a way to stop early. Built once per worker; the catalog is read per run (it may change)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg

from tarif_billing.published import published_catalog
from tarif_catalog import Catalog
from tarif_common.redis_client import RedisClient
from tarif_common.settings import Settings
from tarif_jobs.runs import Items, RunRequest


@dataclass
class JobContext:
    pool: asyncpg.Pool
    redis: RedisClient
    settings: Settings
    # True once the process is stopping: a run finishes the unit it is on and returns; the
    # queue hands the run to a worker again and it resumes (every job type is idempotent)
    stop: Callable[[], bool] = field(default=lambda: False)

    async def catalog(self) -> Catalog:
        """The newest published catalog (Postgres)."""
        return await published_catalog(self.pool)


RunOnce = Callable[[JobContext, RunRequest, Items], Awaitable[None]]
