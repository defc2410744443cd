"""Load a catalog and accounts with balances into Redis (`tarif provision FILE`).

The document (YAML or JSON) has a `catalog` (see `tarif_catalog.parse`) and `accounts`. Everything
is validated before anything is written; each account is then written in one MULTI/EXEC, so an
account is never half provisioned. The admin API calls the same code.

Balance amounts: money as decimal strings in the currency ("10.00"), units as integers. A balance
of units may say `waives_connect_fee: true`: a call that starts on its free units pays no connect
fee (a bundle's minutes; balances granted by a purchase take it from their offer; ignored on
money). Sign
convention: `amount` is what the customer has; charges lower it. Prepaid balances stop at zero; a
postpaid money balance may carry a `credit_limit` and then goes negative (what the customer owes)
down to minus that limit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from tarif_balances.sharing import GroupDoc, Groups, group_of, service_routes
from tarif_catalog import Catalog, parse_catalog
from tarif_catalog.amounts import to_units
from tarif_catalog.model import Direction, Threshold, ThresholdBasis
from tarif_common import keys
from tarif_common.contacts import Contact, unique_tags
from tarif_common.errors import ProvisioningError
from tarif_common.keys import text
from tarif_common.progress import NO_PROGRESS, Progress
from tarif_common.redis_client import (
    RedisClient,
    RedisPipeline,
    Step,
    is_cluster,
    mget,
    write_in_order,
)

BALANCE_ID = r"^[A-Za-z0-9_.-]{1,64}$"


class BalanceDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=BALANCE_ID)
    resource: str
    amount: str | int
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    priority: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    credit_limit: str | int | None = None
    # its free units waive the connect fee of a call that starts on them (a bundle's minutes)
    waives_connect_fee: bool = False

    @field_validator("amount", "credit_limit", mode="before")
    @classmethod
    def _no_float(cls, value: Any) -> Any:
        if isinstance(value, float):
            raise ValueError('write amounts as strings ("10.00") or integers, never floats')
        return value


class AccountDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=keys.ID_PATTERN.pattern)
    plan: str
    payment_type: Literal["prepaid", "postpaid"] = "prepaid"
    status: Literal["active", "suspended", "inactive"] = "active"
    services: list[str] = Field(min_length=1, max_length=1000)
    # a service rated by another plan than `plan` (several subscriptions in one balance group)
    service_plans: dict[str, str] = Field(default_factory=dict, max_length=1000)
    balances: list[BalanceDoc] = Field(default_factory=list, max_length=200)
    credit_profile: str | None = None
    # None: leave the account's contacts as they are; a list (even empty) replaces them.
    contacts: list[Contact] | None = Field(default=None, max_length=20)

    _tags = field_validator("contacts")(unique_tags)

    @field_validator("services")
    @classmethod
    def _identifiers(cls, value: list[str]) -> list[str]:
        for identifier in value:
            if not keys.ID_PATTERN.fullmatch(identifier):
                raise ValueError(f"bad service identifier {identifier!r}")
        if len(set(value)) != len(value):
            raise ValueError("service identifiers repeat")
        return value


class ProvisioningDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    catalog: dict[str, Any] | None = None
    accounts: list[AccountDoc] = Field(default_factory=list)
    # Onboarding documents (the admin API's POST /v1/customers): `tarif provision` writes them
    # to Postgres, which brings them to Redis; Provisioner.apply leaves them alone.
    customers: list[dict[str, Any]] = Field(default_factory=list)
    sharing_groups: list[GroupDoc] = Field(default_factory=list)


def parse_document(document: Mapping[str, Any]) -> ProvisioningDoc:
    try:
        return ProvisioningDoc.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProvisioningError(f"{where}: {first['msg']}") from exc


def _ms(at: datetime | None) -> int:
    if at is None:
        return 0
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return int(at.timestamp() * 1000)


def load_document(path: Path) -> dict[str, Any]:
    text = path.read_text()
    # libyaml's loader when PyYAML has it: about three times faster on a file of many accounts
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    doc = json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=loader)
    if not isinstance(doc, dict):
        raise ProvisioningError(f"{path}: expected a mapping at the top")
    return doc


def account_fields(account: AccountDoc, catalog: Catalog, where: str) -> dict[str, str]:
    if account.plan not in catalog.plans:
        raise ProvisioningError(f"{where}.plan: unknown plan {account.plan!r}")
    fields: dict[str, str] = {"st": account.status, "pt": account.payment_type}
    initial: dict[str, int] = {}
    floors: dict[str, int] = {}
    for identifier, plan in account.service_plans.items():
        if identifier not in account.services:
            raise ProvisioningError(f"{where}.service_plans.{identifier}: not a service")
        if plan not in catalog.plans:
            raise ProvisioningError(f"{where}.service_plans.{identifier}: unknown plan {plan!r}")
    for identifier in account.services:
        fields[f"s:{identifier}"] = account.service_plans.get(identifier, account.plan)
    seen = set()
    for i, balance in enumerate(account.balances):
        at = f"{where}.balances[{i}]"
        if balance.id in seen:
            raise ProvisioningError(f"{at}.id: repeats {balance.id!r}")
        seen.add(balance.id)
        resource = catalog.resources.get(balance.resource)
        if resource is None:
            raise ProvisioningError(f"{at}.resource: unknown resource {balance.resource!r}")
        floor = 0
        if balance.credit_limit is not None:
            if account.payment_type != "postpaid" or resource.kind != "money":
                raise ProvisioningError(f"{at}.credit_limit: only on a postpaid money balance")
            floor = -to_units(balance.credit_limit, resource.decimals, f"{at}.credit_limit")
            if floor > 0:
                raise ProvisioningError(f"{at}.credit_limit: must not be negative")
        amount = to_units(balance.amount, resource.decimals, f"{at}.amount")
        start, end = _ms(balance.valid_from), _ms(balance.valid_to)
        if end and end <= start:
            raise ProvisioningError(f"{at}.valid_to: must be after valid_from")
        descriptor = f"{resource.name}|{start}|{end}|{balance.priority}|{floor}"
        # free units only (money never starts a call for free): a bundle that waives may also
        # grant money, which then goes without the flag. Absent: the 5 fields written before.
        if balance.waives_connect_fee and resource.kind == "unit":
            descriptor += "|1"
        fields[f"b:{balance.id}"] = descriptor
        fields[f"a:{balance.id}"] = str(amount)
        initial[resource.name] = initial.get(resource.name, 0) + amount
        floors[resource.name] = floors.get(resource.name, 0) + floor
    if account.credit_profile is not None:
        profile = catalog.credit_profiles.get(account.credit_profile)
        if profile is None:
            raise ProvisioningError(
                f"{where}.credit_profile: unknown credit profile {account.credit_profile!r}"
            )
        fields.update(_threshold_fields(profile.thresholds, initial, floors))
    return fields


def _threshold_fields(
    thresholds: tuple[Threshold, ...], initial: dict[str, int], floors: dict[str, int]
) -> dict[str, str]:
    """Per resource: `t:<res>` "level,f|r;..." (all a charge reads) and `ti:<res>`, the JSON
    [[id, type, channels], ...] in the same order (read only when one fires)."""
    levels: dict[str, list[str]] = {}
    details: dict[str, list[list[str]]] = {}
    for threshold in thresholds:
        level, direction = _level(threshold, initial, floors)
        levels.setdefault(threshold.resource, []).append(f"{level},{direction}")
        channels = ",".join(threshold.channels)
        details.setdefault(threshold.resource, []).append([threshold.id, threshold.type, channels])
    fields = {f"t:{res}": ";".join(specs) for res, specs in levels.items()}
    fields.update({f"ti:{res}": json.dumps(items) for res, items in details.items()})
    return fields


def _level(
    threshold: Threshold, initial: dict[str, int], floors: dict[str, int]
) -> tuple[int, str]:
    """A threshold's level in this account, and its direction ("f" falling, "r" rising).

    The level is the resource's total amount at which it fires, from this account's balances:
    `percent_of_initial` p = p % of the provisioned amount consumed; `percent_of_limit` p = p %
    of the credit limit owed. Re-provisioning (a top-up) computes it again.
    """
    resource = threshold.resource
    if threshold.basis is ThresholdBasis.ABSOLUTE:
        level = threshold.value
    elif threshold.basis is ThresholdBasis.PERCENT_OF_INITIAL:
        start = initial.get(resource, 0)
        level = start - start * threshold.value // 100
    else:
        level = floors.get(resource, 0) * threshold.value // 100
    return level, "f" if threshold.direction is Direction.FALLING else "r"


class Provisioner:
    def __init__(self, redis: RedisClient, partitions: int) -> None:
        self._redis = redis
        self._partitions = partitions
        self._parsed: tuple[Any, Catalog] | None = None
        self._recorded_partitions: int | None = None

    async def partitions(self) -> int:
        """The deployment's partition count: recorded on first use, fixed afterwards."""
        if self._recorded_partitions is None:
            await self._redis.hsetnx(keys.META, "partitions", self._partitions)
            recorded = await self._redis.hget(keys.META, "partitions")
            self._recorded_partitions = int(recorded or self._partitions)
        return self._recorded_partitions

    async def publish_catalog(self, document: Mapping[str, Any]) -> int:
        """Validate, store and announce a catalog; returns its new version."""
        parse_catalog(document)
        text = json.dumps(document, separators=(",", ":"), default=str)
        if is_cluster(self._redis):
            # two slots: the document first, so a version read is never newer than the
            # document read after it (what CatalogCache does); a crash between the two leaves
            # the outbox row pending and the publish runs again
            await self._redis.set(keys.CATALOG, text)
            version = await self._redis.incr(keys.CATALOG_VERSION)
        else:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(keys.CATALOG, text)
                pipe.incr(keys.CATALOG_VERSION)
                _, version = await pipe.execute()
        await self._redis.publish(keys.CATALOG_CHANNEL, str(version))
        return int(version)

    async def current_catalog(self) -> Catalog:
        """The published catalog, parsed once per version (provisioning many accounts reads it
        for each)."""
        version = await self._redis.get(keys.CATALOG_VERSION)
        if self._parsed is None or self._parsed[0] != version or version is None:
            # version and document together (a publish between two reads would mismatch them);
            # on a cluster the version first: the document read after it is as new or newer
            if is_cluster(self._redis):
                version = await self._redis.get(keys.CATALOG_VERSION)
                raw = await self._redis.get(keys.CATALOG)
            else:
                version, raw = await self._redis.mget(keys.CATALOG_VERSION, keys.CATALOG)
            if raw is None:
                raise ProvisioningError("no catalog is published yet")
            self._parsed = (version, parse_catalog(json.loads(raw)))
        return self._parsed[1]

    async def apply(
        self, document: Mapping[str, Any], progress: Progress = NO_PROGRESS
    ) -> dict[str, int]:
        """Provision a whole document; validates everything before writing anything. `progress`
        hears of each account and sharing group written."""
        doc = parse_document(document)
        catalog = parse_catalog(doc.catalog) if doc.catalog else await self.current_catalog()
        planned = [
            (account, account_fields(account, catalog, f"accounts[{i}]"))
            for i, account in enumerate(doc.accounts)
        ]
        owners: dict[str, str] = {}
        for i, (account, _) in enumerate(planned):
            for identifier in account.services:
                if owners.setdefault(identifier, account.id) != account.id:
                    raise ProvisioningError(f"accounts[{i}].services: {identifier} is used twice")
        version = await self.publish_catalog(doc.catalog) if doc.catalog else 0
        partitions = await self.partitions()
        progress.start("provisioned", "accounts", len(planned))
        for account, fields in planned:
            await self.put_account(account.id, fields, partitions)
            progress.advance()
        progress.done()
        groups = Groups(self._redis, catalog)
        progress.start("provisioned", "sharing groups", len(doc.sharing_groups))
        for i, group in enumerate(doc.sharing_groups):
            await groups.put(group, f"sharing_groups[{i}]")
            progress.advance()
        progress.done()
        return {
            "catalog_version": version,
            "accounts": len(planned),
            "sharing_groups": len(doc.sharing_groups),
        }

    async def sync_account(self, document: Mapping[str, Any]) -> None:
        """Bring one account (an `accounts[]` item) up to date, keeping live balance amounts."""
        doc = parse_document({"accounts": [document]})
        (account,) = doc.accounts
        fields = account_fields(account, await self.current_catalog(), "account")
        await self.put_account(account.id, fields, await self.partitions(), keep_amounts=True)

    async def remove_account(self, account_id: str) -> bool:
        """Delete an account and the routes of its services (a closed account's deletion).

        Refused while the account is a sharing group's member or owner (leave or cancel first).
        Returns False if there was nothing to delete.
        """
        located = await self._redis.get(keys.locator(account_id))
        if located is None:
            return False
        key = keys.account(int(located), account_id)
        fields = {text(k): text(v) for k, v in (await self._redis.hgetall(key)).items()}
        if fields.get("g"):
            raise ProvisioningError(f"account {account_id} is in sharing group {fields['g']}")
        identifiers = [name[2:] for name in fields if name.startswith("s:")]
        routes = await mget(self._redis, [keys.route(i) for i in identifiers])
        owned = [
            keys.route(identifier)
            for identifier, raw in zip(identifiers, routes, strict=True)
            if raw is not None and text(raw).split("|")[1] == account_id
        ]
        # On a cluster in this order: the routes first (the engine then answers USER_UNKNOWN),
        # the locator last (a re-run after a crash finds the account and finishes)
        await write_in_order(
            self._redis,
            [
                Step(lambda pipe: [pipe.delete(route) for route in owned], one_slot=False),
                Step(lambda pipe: pipe.delete(key)),
                Step(lambda pipe: pipe.delete(keys.locator(account_id))),
            ],
        )
        return True

    async def put_account(
        self,
        account_id: str,
        fields: dict[str, str],
        partitions: int,
        *,
        keep_amounts: bool = False,
    ) -> None:
        """Create or replace one account atomically, keeping open sessions and reservations.

        `keep_amounts`: a balance that already exists keeps its live amount (only new balances
        get the amount written). That makes a replay harmless: the admin API's outbox uses it.
        """
        identifiers = [f[2:] for f in fields if f.startswith("s:")]
        routes = await mget(self._redis, [keys.route(i) for i in identifiers])
        located = await self._redis.get(keys.locator(account_id))
        partition = keys.partition_of(account_id, partitions) if located is None else int(located)
        for identifier, raw in zip(identifiers, routes, strict=True):
            if raw is None:
                continue
            owner_partition, owner, _ = text(raw).split("|", 2)
            if owner != account_id:
                raise ProvisioningError(f"service {identifier} belongs to account {owner}")
            partition = int(owner_partition)
        key = keys.account(partition, account_id)
        existing = {text(k): v for k, v in (await self._redis.hgetall(key)).items()}
        moving = keys.moving(partition, account_id)
        if not existing and is_cluster(self._redis) and await self._redis.exists(moving):
            # a move into a sharing group's partition was interrupted after the account left
            # (sharing.Groups._move, on a cluster): writing it here would make a second copy.
            # Provisioning the group again finishes the move.
            raise ProvisioningError(
                f"account {account_id} is being moved into its sharing group's partition;"
                " provision the group again"
            )
        stale = [
            name
            for name in existing
            if name.startswith(("s:", "b:", "a:", "t:", "ti:")) and name not in fields
        ]
        if keep_amounts:
            fields = {k: v for k, v in fields.items() if not (k.startswith("a:") and k in existing)}
        group, owner = await group_of(self._redis, partition, existing.get("g"))
        gone = [keys.route(name[2:]) for name in stale if name.startswith("s:")]
        routes_to = service_routes(fields, partition, account_id, group, owner)

        def account(pipe: RedisPipeline) -> None:
            if stale:
                pipe.hdel(key, *stale)
            pipe.hset(key, mapping=cast("Mapping[Any, Any]", fields))

        # On a cluster in this order, each step re-runnable: routes of removed services go
        # first (their usage is then unknown, as it will be), the account before the routes
        # to it (a route to an account without that service is stale: the engine resolves
        # again), the locator last.
        await write_in_order(
            self._redis,
            [
                Step(lambda pipe: [pipe.delete(route) for route in gone], one_slot=False),
                Step(account),
                Step(lambda pipe: [pipe.set(r, v) for r, v in routes_to.items()], one_slot=False),
                Step(lambda pipe: pipe.set(keys.locator(account_id), partition)),
            ],
        )
