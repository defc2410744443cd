"""What a command talks to: the servers (configured, or embedded and shared with a running
`tarif up`), a Postgres pool, and the measures of the catalog the engine runs."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from tarif_cli.quantities import Measures
from tarif_common.embedded import EmbeddedRedis, ServiceUrls
from tarif_common.errors import TarifError
from tarif_common.settings import Settings


class CatalogUnreadable(TarifError):
    """The running catalog cannot be read, so amounts cannot be shown in their unit."""


def run(main: Coroutine[Any, Any, Any]) -> Any:
    import uvloop

    return uvloop.run(main)


def with_urls(settings: Settings, urls: ServiceUrls) -> Settings:
    return settings.model_copy(
        update={"redis_url": urls.redis_url, "database_url": urls.database_url}
    )


async def with_pool(settings: Settings, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run `work(pool)` on a small pool, the schema migrated first."""
    from tarif_postgres import db

    assert settings.database_url is not None
    await db.migrate_url(settings.database_url)
    pool = await db.create_pool(settings.database_url, max_size=2)
    try:
        return await work(pool)
    finally:
        await pool.close()


def redis_url(settings: Settings) -> str | None:
    """The configured Redis, else the embedded one a `tarif up` runs from this state dir (none
    is started: an empty Redis has no catalog to read)."""
    return settings.redis_url or EmbeddedRedis.live_url(settings.state_dir.resolve() / "redis")


async def running_measures(url: str | None) -> Measures | None:
    """The measures of the catalog the engines run (`tarif:catalog`), or None if unreadable."""
    from redis.exceptions import RedisError

    from tarif_common import keys
    from tarif_common.redis_client import connect

    if not url:
        return None
    redis = connect(url)
    try:
        raw = await redis.get(keys.CATALOG)
    except (RedisError, OSError):
        return None
    finally:
        await redis.aclose()
    return None if raw is None else Measures.from_document(json.loads(raw))


async def required_measures(url: str | None) -> Measures:
    """The running catalog's measures; without them no amount is shown (nor guessed)."""
    measures = await running_measures(url)
    if measures is None:
        where = url or "Redis (REDIS_URL is unset and no `tarif up` runs from this state dir)"
        raise CatalogUnreadable(
            f"no catalog could be read from {where}, so amounts cannot be shown in their"
            " currency and unit: set REDIS_URL to the engine's Redis"
        )
    return measures
