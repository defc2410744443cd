"""API keys as the administration manages them: listed (never the keys themselves), created
(shown once) and revoked, each change with its audit record.

Apart from `auth`, which only creates and checks keys: the audit log names its actor with
`auth.Principal`, so `auth` cannot record changes itself.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from admin_api import audit
from admin_api.auth import Principal, Role, create_key
from admin_api.paging import Keyset, Listed, Paging
from tarif_common.errors import NotFound
from tarif_postgres import queries

Q = queries.load("auth")


KEYS = Keyset("api-keys", "id", 0, hidden=True)  # oldest first; the row id is not shown


async def list_keys(conn: asyncpg.Connection, page: Paging) -> Listed:
    return KEYS.page(await conn.fetch(Q.list_keys, KEYS.after(page), page.limit), page)


async def new_key(
    conn: asyncpg.Connection, who: Principal, role: Role, name: str
) -> dict[str, Any]:
    """A new key with its prefix, role and name: the only time the key is shown."""
    async with conn.transaction():
        key, prefix = await create_key(conn, role, name)
        asked = {"role": role.value, "name": name}
        await audit.record(conn, who, "api_key.create", "api_key", prefix, None, asked)
    return {"key": key, "prefix": prefix, **asked}


async def revoke(conn: asyncpg.Connection, who: Principal, prefix: str) -> None:
    async with conn.transaction():
        if await conn.fetchval(Q.revoke_key, prefix) is None:
            raise NotFound(f"no active key {prefix}")
        await audit.record(conn, who, "api_key.revoke", "api_key", prefix)
