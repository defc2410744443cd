"""The newest published catalog, read from Postgres (the system of record) and parsed once per
version: what billing, the admin API and the batch's jobs price with."""

from __future__ import annotations

import asyncpg

from tarif_catalog import Catalog, parse_catalog
from tarif_common.errors import NotFound
from tarif_postgres import queries

Q = queries.load("catalog")

_parsed: dict[int, Catalog] = {}


async def published_catalog(conn: asyncpg.Connection | asyncpg.Pool) -> Catalog:
    """The newest catalog; NotFound before the first publish."""
    version = await conn.fetchval(Q.latest_catalog_version)
    if version is None:
        raise NotFound("no catalog is published yet")
    if version not in _parsed:
        document = await conn.fetchval(Q.catalog_document, version)
        _parsed.clear()
        _parsed[version] = parse_catalog(document)
    return _parsed[version]
