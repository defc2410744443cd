"""Redis adapter of the charging core: runs the Lua scripts and turns their answers into outcomes.

Each charging request is one EVALSHA (a batch of events is one EVALSHA per partition, all sent in
one pipeline). Scripts are `.lua` files shipped with the package; `lib.lua` is prepended to each.
The scripts run over the lean pipelined transport (`redis_pipe.ScriptPipe`) when one is given
(the engine's hot path), else through redis-py's `Script`; both re-send a script after SCRIPT
FLUSH or a failover (NOSCRIPT). Driver errors become `StoreUnavailable` here, so the domain
never sees redis exceptions. The scripts' argument layout and answer encoding are in
`scripts.py`; callers see only `ports.py` types.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from prometheus_client import Counter, Histogram
from redis import exceptions as redis_errors

from tarif_balances.model import EventOutcome, RefundOutcome, Route, SessionOutcome
from tarif_balances.ports import (
    STALE_ROUTE,
    AdjustOutcome,
    EventCall,
    RefundCall,
    SessionCall,
    StaleRoute,
    StoredAnswer,
    StoredBalance,
    UnratedEvent,
)
from tarif_balances.scripts import (
    Answer,
    adjust_outcome,
    event_outcome,
    event_script_call,
    expire_script_call,
    refund_outcome,
    refund_script_call,
    route_of,
    script_source,
    session_outcome,
    session_script_call,
    stored_balances,
    stored_event_answer,
    unpack,
    unrated_entry,
)
from tarif_common import keys, redis_client
from tarif_common.errors import StoreUnavailable
from tarif_common.redis_client import RedisClient
from tarif_common.redis_pipe import LuaScript, ScriptCall, ScriptPipe
from tarif_common.results import Result
from tarif_common.settings import Settings

# Redis cannot serve now, and the script did not run (or, on a lost connection, may have: the
# request id makes the client's retry safe). CLUSTERDOWN, MASTERDOWN and TRYAGAIN come during a
# cluster's failover or resharding, READONLY from a demoted master, OOM from a full one.
_DRIVER_ERRORS = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.ClusterDownError,
    redis_errors.TryAgainError,
    redis_errors.ReadOnlyError,
    redis_errors.OutOfMemoryError,
    OSError,
)
# The same refusals when a command inside a script raised them: event.lua re-raises an event's
# error after writing the chunk's records, and Redis then answers it as `ERR <code> ...`.
_REFUSED_IN_SCRIPT = ("READONLY ", "CLUSTERDOWN ", "MASTERDOWN ", "TRYAGAIN ", "LOADING ", "OOM ")


def _refused(error: redis_errors.ResponseError) -> bool:
    """A script's error reply that says Redis would not serve, rather than a bug."""
    return str(error).startswith(_REFUSED_IN_SCRIPT)


_SCRIPTS = ("session", "event", "refund", "adjust")


@dataclass(frozen=True, slots=True)
class StoreLimits:
    """The store's share of the settings."""

    idempotency_ttl: int
    validity_time: int
    reservation_grace: int
    batch_chunk: int = 250  # events per EVALSHA: bounds how long one script blocks Redis
    # seconds the answer of a request nothing refunds is kept (session steps, events that charged
    # nothing); 0: idempotency_ttl
    retry_ttl: int = 0

    @property
    def retry_window(self) -> int:
        return self.retry_ttl or self.idempotency_ttl

    @classmethod
    def of(cls, settings: Settings) -> StoreLimits:
        """The limits every process that charges (engine, admin API, batch jobs) sets."""
        return cls(
            settings.idempotency_ttl,
            settings.validity_time,
            settings.reservation_grace,
            retry_ttl=settings.retry_ttl,
        )


class RedisBalanceStore:
    """The `ChargingStore` and `SessionSweepStore` of `ports.py` over Redis, and adjustments."""

    def __init__(
        self,
        redis: RedisClient,
        limits: StoreLimits,
        observe: Histogram | None = None,
        fired: Counter | None = None,
        unrated: Counter | None = None,
        pooled: Counter | None = None,
        pipe: ScriptPipe | None = None,
    ) -> None:
        self._redis = redis
        self._pipe = pipe
        self._limits = limits
        self._observe = observe
        self._fired = fired
        self._unrated = unrated
        self._pooled = pooled
        # each script read once: its text and SHA for the pipe, a redis-py `Script` otherwise
        self._lua = {name: LuaScript(script_source(name)) for name in _SCRIPTS}
        self._registered = {
            name: redis.register_script(lua.source) for name, lua in self._lua.items()
        }

    async def resolve_many(self, subscribers: Sequence[str]) -> list[Route | None]:
        """Routes of many identifiers in one round trip (MGET)."""
        try:
            raws = await redis_client.mget(self._redis, [keys.route(s) for s in subscribers])
        except _DRIVER_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        return [None if raw is None else route_of(raw) for raw in raws]

    async def session(self, call: SessionCall, now_ms: int) -> SessionOutcome | StaleRoute:
        limits = self._limits
        script_keys, args = session_script_call(
            call, now_ms, limits.retry_window, limits.validity_time, limits.reservation_grace
        )
        answer = unpack(await self._run("session", script_keys, args))
        return session_outcome(self._count(answer))

    async def expire_session(
        self, partition: int, account: str, session_id: str, now_ms: int
    ) -> bool:
        """Release one expired session (the sweeper's path); False if it was renewed or gone."""
        route = await self._member_route(partition, account)
        script_keys, args = expire_script_call(route, session_id, now_ms)
        answer = unpack(await self._run("session", script_keys, args, label="expire"))
        return bool(answer.get("m") == "released")

    async def _member_route(self, partition: int, account: str) -> Route:
        """The group of an account, read from Redis (the sweeper has no route at hand)."""
        try:
            group = await self._redis.hget(keys.account(partition, account), "g")
            owner = None
            if group:
                owner = await self._redis.hget(keys.group(partition, keys.text(group)), "owner")
        except _DRIVER_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        if not group or not owner:
            return Route(partition, account, "")
        return Route(partition, account, "", keys.text(group), keys.text(owner))

    async def expired_sessions(
        self, partition: int, now_ms: int, limit: int
    ) -> list[tuple[str, str]]:
        try:
            members = await self._redis.zrangebyscore(
                keys.session_expiry(partition), "-inf", now_ms, start=0, num=limit
            )
        except _DRIVER_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        found = []
        for member in members:
            account, _, session_id = keys.text(cast(bytes, member)).partition("|")
            found.append((account, session_id))
        return found

    async def events(
        self, calls: Sequence[EventCall], now_ms: int
    ) -> list[EventOutcome | StaleRoute]:
        """Charge a batch: one EVALSHA per partition chunk, all in one pipelined round trip."""
        groups: dict[int, list[int]] = {}
        for index, call in enumerate(calls):
            groups.setdefault(call.route.partition, []).append(index)
        chunks: list[list[int]] = []
        size = self._limits.batch_chunk
        for indexes in groups.values():
            chunks.extend(indexes[i : i + size] for i in range(0, len(indexes), size))
        started = time.perf_counter()
        try:
            if self._pipe is not None:
                lua = self._lua["event"]
                replies = await self._pipe.run(
                    [ScriptCall(lua, *self._event_args(calls, c, now_ms)) for c in chunks]
                )
            elif len(chunks) == 1:
                replies = [await self._event_chunk(self._redis, calls, chunks[0], now_ms)]
            elif redis_client.is_cluster(self._redis):
                # partitions live on several nodes: one call per chunk, all at once (each
                # reloads its script after a NOSCRIPT, which a cluster pipeline would not do)
                replies = list(
                    await asyncio.gather(
                        *(self._event_chunk(self._redis, calls, c, now_ms) for c in chunks)
                    )
                )
            else:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for chunk in chunks:
                        await self._event_chunk(pipe, calls, chunk, now_ms)
                    replies = await pipe.execute()
        except _DRIVER_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        except redis_errors.ResponseError as exc:
            if _refused(exc):
                raise StoreUnavailable(str(exc)) from exc
            raise
        if self._observe is not None:
            self._observe.labels("event").observe(time.perf_counter() - started)
        # every index is in exactly one chunk, every chunk has one reply per event (strict zip)
        outcomes: list[EventOutcome | StaleRoute] = [STALE_ROUTE] * len(calls)
        for chunk, reply in zip(chunks, replies, strict=True):
            for index, raw in zip(chunk, reply, strict=True):
                answer = self._count(unpack(raw))
                outcomes[index] = event_outcome(answer, calls[index].step.event_id)
        return outcomes

    def _count(self, answer: Answer) -> Answer:
        """Metrics of a step: thresholds fired, units drawn from a sharing group's pool."""
        if self._fired is not None and answer.get("n"):
            self._fired.inc(answer["n"])
        if self._pooled is not None:
            for ref, resource, amount in answer.get("imp") or ():
                if "/" in ref and amount < 0:  # a pool balance ("owner/id") was consumed
                    self._pooled.labels(resource).inc(-amount)
        return answer

    def _event_args(
        self, calls: Sequence[EventCall], chunk: list[int], now_ms: int
    ) -> tuple[list[str], list[Any]]:
        limits = self._limits
        return event_script_call(
            [calls[i] for i in chunk], now_ms, limits.idempotency_ttl, limits.retry_window
        )

    async def _event_chunk(
        self, client: Any, calls: Sequence[EventCall], chunk: list[int], now_ms: int
    ) -> Any:
        script_keys, args = self._event_args(calls, chunk, now_ms)
        return await self._registered["event"](keys=script_keys, args=args, client=client)

    async def refund(self, call: RefundCall, now_ms: int) -> RefundOutcome | StaleRoute:
        script_keys, args = refund_script_call(call, now_ms, self._limits.idempotency_ttl)
        answer = unpack(await self._run("refund", script_keys, args))
        return refund_outcome(self._count(answer))

    async def adjust(
        self,
        account_id: str,
        balance_id: str,
        delta: int,
        request_id: str,
        reason: str,
        now_ms: int,
    ) -> AdjustOutcome:
        """Add `delta` (smallest units) to one balance, once per `request_id` (back office)."""
        try:
            located = await self._redis.get(keys.locator(account_id))
        except _DRIVER_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        if located is None:
            return AdjustOutcome(Result.USER_UNKNOWN, message=f"no account {account_id}")
        p = int(located)
        script_keys = [
            keys.account(p, account_id),
            keys.idempotency(p, account_id, keys.adjustment_request_id(request_id)),
            keys.rated_stream(p),
            keys.notification_stream(p),
        ]
        args = [
            now_ms,
            self._limits.idempotency_ttl,
            account_id,
            balance_id,
            delta,
            request_id,
            reason,
        ]
        answer = self._count(unpack(await self._run("adjust", script_keys, args)))
        return adjust_outcome(answer)

    async def keep_unrated(self, events: Sequence[UnratedEvent], now_ms: int) -> int:
        """Append unratable events to `tarif:unrated`, once per event id; returns how many."""
        ttl = self._limits.idempotency_ttl
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for event in events:
                    pipe.set(keys.unrated_seen(event.step.event_id), now_ms, nx=True, ex=ttl)
                fresh = await pipe.execute()
            kept = [event for event, new in zip(events, fresh, strict=True) if new]
            if kept:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for event in kept:
                        pipe.xadd(keys.UNRATED, unrated_entry(event, now_ms))
                    await pipe.execute()
        except _DRIVER_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        if self._unrated is not None:
            for event in kept:
                self._unrated.labels(event.reason).inc()
        return len(kept)

    async def balances(self, route: Route, subscriber: str) -> list[StoredBalance] | None:
        try:
            raw = await self._redis.hgetall(keys.account(route.partition, route.account))
        except _DRIVER_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        fields = {keys.text(k): v for k, v in raw.items()}
        texts = {k: keys.text(v) for k, v in fields.items() if not k.startswith("x:")}
        return stored_balances(texts, subscriber)

    async def stored_event_answer(self, account_id: str, event_id: str) -> StoredAnswer | None:
        """The answer kept for a charged event's replays; None once its TTL has passed (or if
        none was kept: the account is unknown, the event never charged)."""
        try:
            located = await self._redis.get(keys.locator(account_id))
            if located is None:
                return None
            key = keys.idempotency(int(located), account_id, keys.event_request_id(event_id))
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.ttl(key)
                raw, ttl = await pipe.execute()
        except _DRIVER_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        if raw is None:
            return None
        return stored_event_answer(unpack(raw), event_id, int(ttl))

    async def _run(
        self, name: str, script_keys: list[str], args: list[Any], label: str = ""
    ) -> bytes:
        """One run of script `name`, timed under `label` (default: the script's name)."""
        started = time.perf_counter()
        try:
            if self._pipe is not None:
                (reply,) = await self._pipe.run([ScriptCall(self._lua[name], script_keys, args)])
            else:
                reply = await self._registered[name](keys=script_keys, args=args)
        except _DRIVER_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        except redis_errors.ResponseError as exc:
            if _refused(exc):
                raise StoreUnavailable(str(exc)) from exc
            raise
        if self._observe is not None:
            self._observe.labels(label or name).observe(time.perf_counter() - started)
        return bytes(reply)
