"""Sharing groups: an owner's balances consumed in real time by the group's members.

Provisioned with the accounts (`sharing_groups:` in a provisioning document):

```yaml
sharing_groups:
  - id: family-1
    owner: "2001"
    status: active                 # or cancelled: members then use their own balances only
    policy:
      order: pool_first            # or own_first (default)
      resources:                   # the shared resources, each with a cap per member per cycle
        data_bytes: {cap: "40%"}   # a share of the owner's current total, or units, or none
        EUR: {cap: "5.00"}
    members:
      - {account: "2002"}
      - {account: "2003", status: suspended}
```

The group's hash lives in the owner's partition and every member account is moved there, so a
member's charge touches its own account, the group and the owner in one atomic step (one hash
tag). A member belongs to one group at a time. Members with open sessions can neither leave nor
move (their holds on the pool must be released first). Usage counters toward the caps survive
re-provisioning; the cycle is the calendar month in the catalog's time zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import WatchError

from tarif_catalog import Catalog
from tarif_catalog.amounts import to_units
from tarif_common import keys
from tarif_common.errors import ProvisioningError
from tarif_common.keys import text
from tarif_common.redis_client import (
    RedisClient,
    RedisPipeline,
    Step,
    is_cluster,
    write_in_order,
)

_MOVE_ATTEMPTS = 5  # copies of a member account charged while it moves (cluster), then give up


class CapDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cap: str | int | None = None  # "40%" of the owner's total, an amount, or None (no cap)


class PolicyDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order: Literal["own_first", "pool_first"] = "own_first"
    resources: dict[str, CapDoc] = Field(min_length=1)


class MemberDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account: str = Field(pattern=keys.ID_PATTERN.pattern)
    status: Literal["active", "suspended"] = "active"


class GroupDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    owner: str = Field(pattern=keys.ID_PATTERN.pattern)
    status: Literal["active", "cancelled"] = "active"
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    policy: PolicyDoc
    members: list[MemberDoc] = Field(default_factory=list, max_length=10_000)


async def group_of(
    redis: RedisClient, partition: int, group: bytes | str | None
) -> tuple[str, str]:
    """(group, owner) of an account's `g` field; empty strings when it is in no group."""
    if not group:
        return "", ""
    owner = await redis.hget(keys.group(partition, text(group)), "owner")
    return (text(group), text(owner)) if owner else ("", "")


def service_routes(
    fields: Mapping[str, str], partition: int, account: str, group: str = "", owner: str = ""
) -> dict[str, str]:
    """Route key -> route value of each service (`s:<identifier>` field) of an account's hash,
    homed in `partition` (and in `group` of `owner`, when given)."""
    return {
        keys.route(name[2:]): keys.route_value(partition, account, plan, group, owner)
        for name, plan in fields.items()
        if name.startswith("s:")
    }


def _ms(at: datetime | None) -> int:
    if at is None:
        return 0
    return int((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() * 1000)


def _totals(fields: dict[str, str]) -> dict[str, int]:
    """The owner's current amount per resource: what a percentage cap is a share of."""
    totals: dict[str, int] = {}
    for name, value in fields.items():
        if name.startswith("b:"):
            resource = value.split("|", 1)[0]
            totals[resource] = totals.get(resource, 0) + int(fields.get(f"a:{name[2:]}", 0))
    return totals


class Groups:
    def __init__(self, redis: RedisClient, catalog: Catalog) -> None:
        self._redis = redis
        self._catalog = catalog

    async def _fields(self, partition: int, account: str) -> dict[str, str]:
        raw = await self._redis.hgetall(keys.account(partition, account))
        fields = {text(k): v for k, v in raw.items()}
        return {k: "" if k.startswith("x:") else text(v) for k, v in fields.items()}

    async def _locate(self, account: str, where: str) -> int:
        located = await self._redis.get(keys.locator(account))
        if located is None:
            raise ProvisioningError(f"{where}: unknown account {account!r}")
        return int(located)

    def _cap(self, resource: str, cap: CapDoc, owner_total: int, where: str) -> int:
        known = self._catalog.resources.get(resource)
        if known is None:
            raise ProvisioningError(f"{where}: unknown resource {resource!r}")
        if cap.cap is None:
            return -1
        raw = str(cap.cap)
        if raw.endswith("%"):
            millionths = to_units(raw[:-1], 6, f"{where}.cap")  # of a percent: exact maths
            if not 0 <= millionths <= 100 * 10**6:
                raise ProvisioningError(f"{where}.cap: a share must be 0% to 100%")
            return owner_total * millionths // (100 * 10**6)
        amount = to_units(raw, known.decimals, f"{where}.cap")
        if amount < 0:
            raise ProvisioningError(f"{where}.cap: must be a non-negative amount of {resource}")
        return amount

    async def put(self, doc: GroupDoc, where: str) -> None:
        """Validate a group against what Redis holds, then move members in and write it."""
        owner_p = await self._locate(doc.owner, f"{where}.owner")
        owner = await self._fields(owner_p, doc.owner)
        placed = await self._redis.get(keys.group_locator(doc.id))
        if placed is not None and text(placed) != f"{owner_p}|{doc.owner}":
            raise ProvisioningError(f"{where}.id: group {doc.id} has another owner")
        if owner.get("g"):
            raise ProvisioningError(f"{where}.owner: {doc.owner} is a member of group {owner['g']}")
        group_key = keys.group(owner_p, doc.id)
        existing = {text(k): text(v) for k, v in (await self._redis.hgetall(group_key)).items()}
        if doc.valid_to is not None and _ms(doc.valid_to) <= _ms(doc.valid_from):
            raise ProvisioningError(f"{where}.valid_to: must be after valid_from")
        totals = _totals(owner)
        caps = {
            resource: self._cap(
                resource, cap, totals.get(resource, 0), f"{where}.policy.{resource}"
            )
            for resource, cap in doc.policy.resources.items()
        }
        members: dict[str, tuple[int, dict[str, str]]] = {}
        for i, member in enumerate(doc.members):
            at = f"{where}.members[{i}]"
            if member.account == doc.owner or member.account in members:
                raise ProvisioningError(
                    f"{at}.account: {member.account} is listed twice or owns it"
                )
            partition = await self._locate(member.account, f"{at}.account")
            fields = await self._fields(partition, member.account)
            if (
                not fields
                and partition != owner_p
                and await self._moving_to(partition, member.account, owner_p)
            ):
                fields = await self._fields(owner_p, member.account)  # _move finishes it
            if fields.get("g") and fields["g"] != doc.id:
                raise ProvisioningError(
                    f"{at}.account: {member.account} is already a member of group {fields['g']}"
                )
            if partition != owner_p and any(name.startswith("x:") for name in fields):
                raise ProvisioningError(f"{at}.account: {member.account} has open sessions")
            members[member.account] = (partition, fields)
        leaving = [
            name[2:] for name in existing if name.startswith("m:") and name[2:] not in members
        ]
        for account in leaving:
            if any(name.startswith("x:") for name in await self._fields(owner_p, account)):
                raise ProvisioningError(f"{where}.members: {account} leaves with open sessions")

        for account, (partition, fields) in members.items():
            if partition != owner_p:
                await self._move(account, partition, owner_p, fields)
        await self._write(doc, owner_p, group_key, existing, caps, members, leaving)

    async def _moving_to(self, source: int, account: str, target: int) -> bool:
        """Whether a move of `account` from `source` to `target` was left half done (cluster)."""
        if not is_cluster(self._redis):
            return False
        marker = await self._redis.get(keys.moving(source, account))
        return marker is not None and int(marker) == target

    async def _move(self, account: str, source: int, target: int, fields: dict[str, str]) -> None:
        """Re-home an account in another partition (no open sessions: checked by the caller).

        Stored answers of earlier requests stay behind: replays of those ids after a move are
        treated as new requests.
        """
        if is_cluster(self._redis):
            await self._move_across_slots(account, source, target, fields)
            return
        old, new = keys.account(source, account), keys.account(target, account)
        raw = await self._redis.hgetall(old)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(new)
            pipe.hset(new, mapping=cast("Mapping[Any, Any]", raw))
            pipe.delete(old)
            pipe.set(keys.locator(account), target)
            for route, value in service_routes(fields, target, account).items():
                pipe.set(route, value)
            await pipe.execute()

    async def _move_across_slots(
        self, account: str, source: int, target: int, fields: dict[str, str]
    ) -> None:
        """The move on a cluster, where the two homes are in two slots (no MULTI spans them).

        1. copy the account to its new home (nothing points there yet);
        2. delete the old home if unchanged since the copy (WATCH; else copy again), leaving
           a marker in its slot. From here the engine finds no account at the routes' key and
           resolves again (ROUTE_STALE; answered USER_UNKNOWN until 3 is done);
        3. point the routes, then the locator, at the new home; drop the marker.
        A crash anywhere is repaired by provisioning the group again: before 2 the old home
        still holds the account (the copy is made again), after it the marker says where it
        went (`put` reads it there and this finishes 3). `Provisioner.put_account` refuses a
        marked account meanwhile rather than write a second copy.
        """
        old, new = keys.account(source, account), keys.account(target, account)
        marker = keys.moving(source, account)
        marked = await self._redis.get(marker)
        if marked is not None and int(marked) != target:
            raise ProvisioningError(
                f"account {account} is being moved into partition {int(marked)}: provision its"
                " sharing group again first"
            )
        if marked is None:
            for _ in range(_MOVE_ATTEMPTS):
                raw = await self._redis.hgetall(old)
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.delete(new)
                    pipe.hset(new, mapping=cast("Mapping[Any, Any]", raw))
                    await pipe.execute()
                if await self._leave(old, raw, marker, target):
                    break
            else:
                raise ProvisioningError(f"account {account} kept changing while moved; try again")
        routes = service_routes(fields, target, account)
        if routes:
            async with self._redis.pipeline(transaction=False) as pipe:
                for route, value in routes.items():
                    pipe.set(route, value)
                await pipe.execute()
        await self._redis.set(keys.locator(account), target)
        await self._redis.delete(marker)

    async def _leave(self, old: str, copied: dict[Any, Any], marker: str, target: int) -> bool:
        """Delete the old home and mark where it went, if it is still what was copied."""
        async with self._redis.pipeline(transaction=True) as pipe:
            await pipe.watch(old)
            if await pipe.hgetall(old) != copied:  # charged meanwhile: copy again
                return False  # (leaving the block unwatches)
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.delete(old)
            pipe.set(marker, target)
            try:
                await pipe.execute()
            except WatchError:
                return False
        return True

    async def _write(
        self,
        doc: GroupDoc,
        partition: int,
        group_key: str,
        existing: dict[str, str],
        caps: dict[str, int],
        members: dict[str, tuple[int, dict[str, str]]],
        leaving: list[str],
    ) -> None:
        fields: dict[str, Any] = {
            "owner": doc.owner,
            "st": doc.status,
            "vf": _ms(doc.valid_from),
            "vt": _ms(doc.valid_to),
            "ord": doc.policy.order,
        }
        fields.update({name: value for name, value in existing.items() if name.startswith("u:")})
        fields.update({f"r:{resource}": cap for resource, cap in caps.items()})
        fields["res"] = ",".join(caps)  # the shared resources, read with the member's fields
        fields.update({f"m:{m.account}": m.status for m in doc.members})
        routes: dict[str, str] = {}
        for account, (_, account_fields) in members.items():
            routes.update(service_routes(account_fields, partition, account, doc.id, doc.owner))
        for account in leaving:
            left_with = await self._fields(partition, account)
            routes.update(service_routes(left_with, partition, account))

        def group_and_accounts(pipe: RedisPipeline) -> None:  # all in the owner's partition
            pipe.delete(group_key)
            pipe.hset(group_key, mapping=cast("Mapping[Any, Any]", fields))
            for account in members:
                pipe.hset(keys.account(partition, account), "g", doc.id)
            for account in leaving:
                pipe.hdel(keys.account(partition, account), "g")

        # On a cluster in this order: the group and its accounts first (a route whose group
        # differs from the account's is stale: the engine resolves again and, until the routes
        # follow, answers USER_UNKNOWN), then the routes and the group's locator; a re-run
        # after a crash writes the same again.
        await write_in_order(
            self._redis,
            [
                Step(group_and_accounts),
                Step(lambda pipe: [pipe.set(r, v) for r, v in routes.items()], one_slot=False),
                Step(lambda pipe: pipe.set(keys.group_locator(doc.id), f"{partition}|{doc.owner}")),
            ],
        )
