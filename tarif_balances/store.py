"""Redis adapter of the charging core: the Lua scripts and the keys they touch.

Each charging request is one EVALSHA (a batch of events is one EVALSHA per partition, all sent in
one pipeline). Scripts are `.lua` files shipped with the package; `lib.lua` is prepended to each.
redis-py's `Script` re-loads a script after SCRIPT FLUSH or a failover (NoScriptError). Driver
errors become `StoreUnavailable` here, so the domain never sees redis exceptions.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol, cast

import msgpack  # type: ignore[import-untyped]
from prometheus_client import Counter, Histogram
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from tarif_balances.model import Route, SessionStep
from tarif_catalog import Pricing
from tarif_common import keys
from tarif_common.errors import StoreUnavailable
from tarif_common.results import Result

Answer = dict[str, Any]

# Result code a script returns when the account no longer owns the service identifier (the route
# cache was stale). Never leaves the engine.
ROUTE_STALE = 100

_DRIVER_ERRORS = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)


def _script_source(name: str) -> str:
    lua = resources.files("tarif_balances") / "lua"
    return (lua / "lib.lua").read_text() + "\n" + (lua / f"{name}.lua").read_text()


def _route(raw: bytes | str) -> Route:
    partition, account, plan, *group = keys.text(raw).split("|")
    return Route(int(partition), account, plan, *group)


def _group_keys(route: Route, account_key: str) -> list[str]:
    """The group and owner keys of a member; the account's own key twice otherwise (same slot)."""
    if not route.group:
        return [account_key, account_key]
    return [keys.group(route.partition, route.group), keys.account(route.partition, route.owner)]


def event_script_call(
    calls: Sequence[EventCall], now_ms: int, ttl: int
) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV of `event.lua` for events of one partition (see the script's header)."""
    p = calls[0].route.partition
    script_keys = [
        keys.rated_stream(p),
        keys.session_expiry(p),
        keys.partition_stats(p),
        keys.notification_stream(p),
    ]
    pricings: dict[bytes, int] = {}
    events: list[bytes] = []
    for c in calls:
        account = c.route.account
        index = len(script_keys) + 1
        script_keys.append(keys.account(p, account))
        script_keys.append(keys.idempotency(p, account, keys.event_request_id(c.event_id)))
        if c.route.group:
            script_keys.extend(_group_keys(c.route, script_keys[-2]))
        pricing = pricings.setdefault(c.pricing, len(pricings) + 1)
        events.append(
            _pack(
                (
                    account,
                    c.subscriber,
                    c.route.plan,
                    c.event_id,
                    c.event_time_ms,
                    c.units,
                    c.action,
                    pricing,
                    c.attributes,
                    index,
                    c.route.group,
                    c.route.owner,
                    c.cycle,
                )
            )
        )
    header: list[Any] = [now_ms, ttl, len(calls), _pack(list(pricings))]
    return script_keys, header + events


def _pack(value: Any) -> bytes:
    """msgpack for the scripts: Redis' Lua cmsgpack knows only the legacy raw string types."""
    packed: bytes = msgpack.packb(value, use_bin_type=False)
    return packed


def unpack(raw: bytes) -> Answer:
    answer: Answer = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    return answer


@dataclass(frozen=True, slots=True)
class EventCall:
    """One event of a batch, ready for the script."""

    route: Route
    event_id: str
    event_time_ms: int
    units: int
    action: int
    subscriber: str
    pricing: bytes
    attributes: str
    cycle: str = ""  # billing cycle of the event time (a group member's cap is per cycle)


class BalanceStore(Protocol):
    async def resolve_many(self, subscribers: Sequence[str]) -> list[Route | None]: ...

    async def session(
        self,
        route: Route,
        step: SessionStep,
        now_ms: int,
        pricing: bytes,
        attributes: str,
        cycle: str = "",
    ) -> Answer: ...

    async def events(self, calls: Sequence[EventCall], now_ms: int) -> list[Answer]: ...

    async def refund(
        self,
        route: Route,
        subscriber: str,
        refund_id: str,
        original_event_id: str,
        amount: tuple[int, str] | None,
        event_time_ms: int,
        now_ms: int,
    ) -> Answer: ...

    async def account(self, route: Route) -> dict[str, str]: ...

    async def keep_unrated(self, events: Sequence[UnratedEvent], now_ms: int) -> int: ...


@dataclass(frozen=True, slots=True)
class UnratedEvent:
    """A debit the engine could not rate: kept, with why, so it can be corrected and re-rated."""

    event_id: str
    reason: str  # unknown_subscriber, unknown_service, missing_rating_field, no_tariff, ...
    message: str
    subscriber: str
    service: str
    event_time_ms: int
    units: int
    attributes: str


@dataclass(frozen=True, slots=True)
class StoreLimits:
    """The store's share of the settings."""

    idempotency_ttl: int
    validity_time: int
    reservation_grace: int
    batch_chunk: int = 250  # events per EVALSHA: bounds how long one script blocks Redis


class RedisBalanceStore:
    def __init__(
        self,
        redis: Redis,
        limits: StoreLimits,
        observe: Histogram | None = None,
        fired: Counter | None = None,
        unrated: Counter | None = None,
        pooled: Counter | None = None,
    ) -> None:
        self._redis = redis
        self._limits = limits
        self._observe = observe
        self._fired = fired
        self._unrated = unrated
        self._pooled = pooled
        self._session = redis.register_script(_script_source("session"))
        self._event = redis.register_script(_script_source("event"))
        self._refund = redis.register_script(_script_source("refund"))
        self._adjust = redis.register_script(_script_source("adjust"))

    async def resolve_many(self, subscribers: Sequence[str]) -> list[Route | None]:
        """Routes of many identifiers in one round trip (MGET)."""
        try:
            raws = await self._redis.mget([keys.route(s) for s in subscribers])
        except _DRIVER_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        return [None if raw is None else _route(raw) for raw in raws]

    async def session(
        self,
        route: Route,
        step: SessionStep,
        now_ms: int,
        pricing: bytes,
        attributes: str,
        cycle: str = "",
    ) -> Answer:
        p = route.partition
        request_id = keys.session_request_id(step.session_id, step.request_number)
        script_keys = [
            keys.account(p, route.account),
            keys.idempotency(p, route.account, request_id),
            keys.rated_stream(p),
            keys.session_expiry(p),
            keys.partition_stats(p),
            keys.notification_stream(p),
        ]
        script_keys.extend(_group_keys(route, script_keys[0]))
        args: list[Any] = [
            step.op.value,
            route.account,
            step.subscriber,
            route.plan,
            step.session_id,
            step.request_number,
            now_ms,
            int(step.event_time.timestamp() * 1000),
            step.requested_units,
            step.used_units,
            self._limits.idempotency_ttl,
            self._limits.validity_time,
            self._limits.reservation_grace,
            pricing,
            attributes,
            route.group,
            route.owner,
            cycle,
        ]
        return self._count(unpack(await self._run("session", self._session, script_keys, args)))

    async def expire_session(
        self, partition: int, account: str, session_id: str, now_ms: int
    ) -> Answer:
        """Release one expired session (the sweeper's path); a no-op if it was renewed."""
        route = await self._member_route(partition, account)
        script_keys = [
            keys.account(partition, account),
            keys.idempotency(partition, account, "sweep"),
            keys.rated_stream(partition),
            keys.session_expiry(partition),
            keys.partition_stats(partition),
            keys.notification_stream(partition),
        ]
        script_keys.extend(_group_keys(route, script_keys[0]))
        args: list[Any] = [
            "expire",
            account,
            "",
            "",
            session_id,
            0,
            now_ms,
            now_ms,
            0,
            0,
            1,
            1,
            0,
            b"",
            "",
            route.group,
            route.owner,
            "",
        ]
        return unpack(await self._run("expire", self._session, script_keys, args))

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

    async def events(self, calls: Sequence[EventCall], now_ms: int) -> list[Answer]:
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
            if len(chunks) == 1:
                replies = [await self._event_chunk(self._redis, calls, chunks[0], now_ms)]
            else:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for chunk in chunks:
                        await self._event_chunk(pipe, calls, chunk, now_ms)
                    replies = await pipe.execute()
        except _DRIVER_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        if self._observe is not None:
            self._observe.labels("event").observe(time.perf_counter() - started)
        answers: list[Answer] = [{}] * len(calls)
        for chunk, reply in zip(chunks, replies, strict=True):
            for index, raw in zip(chunk, reply, strict=True):
                answers[index] = self._count(unpack(raw))
        return answers

    def _count(self, answer: Answer) -> Answer:
        if self._fired is not None and answer.get("n"):
            self._fired.inc(answer["n"])
        if self._pooled is not None:
            for ref, resource, amount in answer.get("imp") or ():
                if "/" in ref and amount < 0:  # a pool balance ("owner/id") was consumed
                    self._pooled.labels(resource).inc(-amount)
        return answer

    async def _event_chunk(
        self, client: Any, calls: Sequence[EventCall], chunk: list[int], now_ms: int
    ) -> Any:
        script_keys, args = event_script_call(
            [calls[i] for i in chunk], now_ms, self._limits.idempotency_ttl
        )
        return await self._event(keys=script_keys, args=args, client=client)

    async def refund(
        self,
        route: Route,
        subscriber: str,
        refund_id: str,
        original_event_id: str,
        amount: tuple[int, str] | None,
        event_time_ms: int,
        now_ms: int,
    ) -> Answer:
        """`amount` is (minor units, currency); None refunds the whole event."""
        p, account = route.partition, route.account
        script_keys = [
            keys.account(p, account),
            keys.idempotency(p, account, keys.refund_request_id(refund_id)),
            keys.idempotency(p, account, keys.event_request_id(original_event_id)),
            keys.rated_stream(p),
            keys.notification_stream(p),
        ]
        script_keys.extend(_group_keys(route, script_keys[0]))
        args: list[Any] = [
            now_ms,
            self._limits.idempotency_ttl,
            account,
            subscriber,
            route.plan,
            refund_id,
            original_event_id,
            -1 if amount is None else amount[0],
            event_time_ms,
            "" if amount is None else amount[1],
            route.group,
            route.owner,
        ]
        return self._count(unpack(await self._run("refund", self._refund, script_keys, args)))

    async def adjust(
        self,
        account_id: str,
        balance_id: str,
        delta: int,
        request_id: str,
        reason: str,
        now_ms: int,
    ) -> Answer:
        """Add `delta` (smallest units) to one balance, once per `request_id` (back office)."""
        try:
            located = await self._redis.get(keys.locator(account_id))
        except _DRIVER_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        if located is None:
            return {"r": int(Result.USER_UNKNOWN), "m": f"no account {account_id}"}
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
        return self._count(unpack(await self._run("adjust", self._adjust, script_keys, args)))

    async def keep_unrated(self, events: Sequence[UnratedEvent], now_ms: int) -> int:
        """Append unratable events to `tarif:unrated`, once per event id; returns how many."""
        ttl = self._limits.idempotency_ttl
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for event in events:
                    pipe.set(keys.unrated_seen(event.event_id), now_ms, nx=True, ex=ttl)
                fresh = await pipe.execute()
            kept = [event for event, new in zip(events, fresh, strict=True) if new]
            if kept:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for e in kept:
                        pipe.xadd(
                            keys.UNRATED,
                            {"id": keys.event_request_id(e.event_id), "reason": e.reason,
                             "m": e.message, "sub": e.subscriber, "svc": e.service,
                             "t": e.event_time_ms, "u": e.units, "attrs": e.attributes,
                             "at": now_ms},
                        )  # fmt: skip
                    await pipe.execute()
        except _DRIVER_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        if self._unrated is not None:
            for e in kept:
                self._unrated.labels(e.reason).inc()
        return len(kept)

    async def account(self, route: Route) -> dict[str, str]:
        try:
            raw = await self._redis.hgetall(keys.account(route.partition, route.account))
        except _DRIVER_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        fields = {keys.text(k): v for k, v in raw.items()}
        return {k: keys.text(v) for k, v in fields.items() if not k.startswith("x:")}

    async def _run(
        self, name: str, script: AsyncScript, script_keys: list[str], args: list[Any]
    ) -> bytes:
        started = time.perf_counter()
        try:
            reply = await script(keys=script_keys, args=args)
        except _DRIVER_ERRORS as exc:
            raise StoreUnavailable(str(exc)) from exc
        if self._observe is not None:
            self._observe.labels(name).observe(time.perf_counter() - started)
        return bytes(reply)


@functools.lru_cache(maxsize=65536)
def pricing_blob(pricing: Pricing) -> bytes:
    """A rate in the scripts' format (msgpack); cached, since few rates serve many requests."""
    return _pack(
        {
            "t": pricing.tariff_id,
            "r": pricing.rate_id,
            "svc": pricing.service,
            "mr": pricing.money_resource,
            "cur": pricing.currency,
            "d": pricing.decimals,
            "mo": pricing.money_order.value,
            "fr": [[name, order.value] for name, order in pricing.free_resources],
            "cf": pricing.connect_fee_micros,
            "i1": pricing.first_increment,
            "i2": pricing.next_increment,
            "tiers": [
                [-1 if t.up_to is None else t.up_to, t.price_micros, t.per_units]
                for t in pricing.tiers
            ],
        }
    )
