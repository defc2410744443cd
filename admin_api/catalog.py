"""The catalog in Postgres: every published version kept, the newest run by the engines."""

from __future__ import annotations

from typing import Any

import asyncpg

from admin_api import audit, outbox
from admin_api.auth import Principal
from engine.rating import Catalog, parse_catalog
from tarif_common.errors import NotFound

_parsed: dict[int, Catalog] = {}


async def latest(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
    row = await conn.fetchrow(
        "SELECT version, document FROM catalog_versions ORDER BY version DESC LIMIT 1"
    )
    if row is None:
        raise NotFound("no catalog is published yet")
    return row["version"], row["document"]


async def current(conn: asyncpg.Connection) -> Catalog:
    """The newest catalog, read and parsed once per version."""
    version = await conn.fetchval("SELECT max(version) FROM catalog_versions")
    if version is None:
        raise NotFound("no catalog is published yet")
    if version not in _parsed:
        document = await conn.fetchval(
            "SELECT document FROM catalog_versions WHERE version = $1", version
        )
        _parsed.clear()
        _parsed[version] = parse_catalog(document)
    return _parsed[version]


async def publish(
    conn: asyncpg.Connection, who: Principal | None, document: dict[str, Any], actor: str = ""
) -> int:
    """Validate, keep as a new version and queue it for Redis (in the caller's transaction)."""
    parse_catalog(document)  # CatalogError -> 422 naming the path
    version: int = await conn.fetchval(
        "INSERT INTO catalog_versions (document, published_by) VALUES ($1, $2) RETURNING version",
        document,
        who.actor if who else actor,
    )
    await outbox.queue(conn, "catalog", "catalog")
    if who is not None:
        await audit.record(conn, who, "catalog.publish", "catalog", str(version), None, document)
    return version
