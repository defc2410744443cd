"""What the purchase jobs need of the engine's side: its adjustment step (prepaid payments and
grant moves go through the engine's atomic step, applied once per adjustment id) and the relay
that brings an account changed in Postgres up to date in Redis right after the commit, as the
admin API does. A push that fails is left in the outbox: the admin process' relay retries it."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from redis.exceptions import RedisError

from billing_batch.jobs.context import JobContext
from tarif_balances.outbox import Relay
from tarif_balances.store import RedisBalanceStore, StoreLimits
from tarif_common import keys
from tarif_common.errors import TarifError
from tarif_postgres.driver import DB_ERRORS

log = logging.getLogger(__name__)
_DEFERRED: tuple[type[BaseException], ...] = (TarifError, RedisError, *DB_ERRORS)


@dataclass(frozen=True)
class EngineSide:
    store: RedisBalanceStore
    relay: Relay

    @classmethod
    async def of(cls, ctx: JobContext) -> EngineSide:
        s = ctx.settings
        store = RedisBalanceStore(ctx.redis, StoreLimits.of(s))
        partitions = int(await ctx.redis.hget(keys.META, "partitions") or s.partitions)
        return cls(store, Relay(ctx.pool, ctx.redis, partitions))

    async def push(self, accounts: Iterable[str], groups: Iterable[str] = ()) -> None:
        """Bring these sharing groups, then accounts, up to date in Redis (their outbox rows)."""
        for kind, names in (("group", groups), ("account", accounts)):
            for key in dict.fromkeys(names):
                if not key:
                    continue
                try:
                    await self.relay.drain_one(kind, key)
                except _DEFERRED as exc:
                    log.warning("job.push_deferred", extra={"key": key, "error": repr(exc)})
