"""The catalog in Postgres: every published version kept, the newest run by the engines."""

from __future__ import annotations

from typing import Any

import asyncpg

from admin_api import audit, outbox
from admin_api.auth import Principal
from admin_api.paging import MAX_ID, Keyset, Listed, Paging
from tarif_billing.published import published_catalog
from tarif_catalog import Catalog, parse_catalog
from tarif_common.errors import Conflict, NotFound
from tarif_postgres import queries

Q = queries.load("catalog")

# one publisher at a time: two edits of different objects must not lose one another
_PUBLISH_LOCK = int.from_bytes(b"tcat", "big")


async def latest(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
    row = await conn.fetchrow(Q.latest_catalog)
    if row is None:
        raise NotFound("no catalog is published yet")
    return row["version"], row["document"]


async def current(conn: asyncpg.Connection) -> Catalog:
    """The newest catalog, read and parsed once per version."""
    return await published_catalog(conn)


async def publish(
    conn: asyncpg.Connection, who: Principal | None, document: dict[str, Any], actor: str = ""
) -> int:
    """Validate, keep as a new version and queue it for Redis (in the caller's transaction).

    Refused with `PlanInUse` if it drops a plan that subscriptions use."""
    parse_catalog(document)  # CatalogError -> 422 naming the path
    await conn.execute(Q.lock_publishing, _PUBLISH_LOCK)
    await refuse_dropping_used_plans(conn, document)
    version: int = await conn.fetchval(
        Q.insert_catalog_version, document, who.actor if who else actor
    )
    await outbox.queue(conn, "catalog", "catalog")
    if who is not None:
        await audit.record(conn, who, "catalog.publish", "catalog", str(version), None, document)
    return version


class PlanInUse(Conflict):
    """A plan in use cannot leave the catalog."""


async def refuse_dropping_used_plans(conn: asyncpg.Connection, document: dict[str, Any]) -> None:
    """`PlanInUse` (409) if `document` drops a plan of the newest version that an active
    subscription is on (so its services and balance group too) or that a scheduled plan
    transition targets: the engine could not rate their usage any more ("unknown plan").

    Call it holding the publishing lock, so that the version compared with is the newest."""
    before = {row["plan"] for row in await conn.fetch(Q.latest_plan_names)}
    dropped = sorted(before - set(document.get("plans") or {}))
    if not dropped:
        return
    used = await conn.fetch(Q.plan_users, dropped)
    if not used:
        return
    users = 0
    parts = []
    for row in used:
        uses = []
        if row["subscriptions"]:
            uses.append(_count(row["subscriptions"], "subscription"))
        if row["transitions"]:
            uses.append(_count(row["transitions"], "scheduled plan transition"))
        users += row["subscriptions"] + row["transitions"]
        parts.append(f"plan {row['plan']!r} is used by {' and '.join(uses)}")
    if len(used) > 1:
        advice = "move them to other plans first"
    else:
        advice = f"move {'it' if users == 1 else 'them'} to another plan first"
    raise PlanInUse(f"{'; '.join(parts)}: {advice}")


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


SECTIONS = (
    "resources",
    "service_types",
    "time_bands",
    "tariffs",
    "plans",
    "credit_profiles",
    "products",
    "bundles",
    "packs",
)


async def put_item(
    conn: asyncpg.Connection, who: Principal, section: str, name: str, item: dict[str, Any]
) -> int:
    """Create or replace one object of the catalog: a new version, validated whole."""
    async with conn.transaction():
        await conn.execute(Q.lock_publishing, _PUBLISH_LOCK)
        _, document = await latest(conn)
        before = document.get(section, {}).get(name)
        document.setdefault(section, {})[name] = item
        version = await publish(conn, None, document, actor=who.actor)
        await audit.record(conn, who, f"catalog.{section}.put", section, name, before, item)
    return version


async def delete_item(conn: asyncpg.Connection, who: Principal, section: str, name: str) -> int:
    """Remove one object; refused (422, naming what still uses it) if the catalog would break,
    and a plan (409) while subscriptions use it (`refuse_dropping_used_plans`)."""
    async with conn.transaction():
        await conn.execute(Q.lock_publishing, _PUBLISH_LOCK)
        _, document = await latest(conn)
        before = document.get(section, {}).pop(name, None)
        if before is None:
            raise NotFound(f"no {section} {name!r} in the catalog")
        version = await publish(conn, None, document, actor=who.actor)
        await audit.record(conn, who, f"catalog.{section}.delete", section, name, before)
    return version


async def publish_now(conn: asyncpg.Connection, who: Principal, document: dict[str, Any]) -> int:
    """`publish` in a transaction of its own (the admin API's whole-document publish)."""
    async with conn.transaction():
        return await publish(conn, who, document)


VERSIONS = Keyset("catalog-versions", "version", MAX_ID)  # newest first
SECTION = Keyset("catalog-section", "name", "")


async def versions(conn: asyncpg.Connection, page: Paging) -> Listed:
    """A page of versions, newest first, without their documents."""
    rows = await conn.fetch(Q.catalog_versions, VERSIONS.after(page), page.limit)
    return VERSIONS.page(rows, page)


async def section(conn: asyncpg.Connection, name: str, page: Paging) -> tuple[int, Listed]:
    """The newest version and a page of the objects of one section, by name, each with its
    name. The document is read whole anyway (it is the catalog), so the page is cut here."""
    version, document = await latest(conn)
    after = SECTION.after(page)
    names = sorted(k for k in document.get(name, {}) if k > after)[: page.limit]
    rows = [{"name": k, **document[name][k]} for k in names]
    return version, SECTION.page(rows, page)


async def item(conn: asyncpg.Connection, section: str, name: str) -> tuple[int, dict[str, Any]]:
    """The newest version and one object of a section."""
    version, document = await latest(conn)
    found = document.get(section, {}).get(name)
    if found is None:
        raise NotFound(f"no {section} {name!r} in the catalog")
    return version, found
