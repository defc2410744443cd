"""API keys and roles.

A key is `tk_<prefix>_<secret>`: 256 random bits, shown once at creation; Postgres keeps its
SHA-256 (a slow KDF adds nothing for random keys and would cost every request). Roles: `admin`
(everything), `operator` (read, run jobs, correct and re-rate usage), `auditor` (read only).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import asyncpg
from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader

from tarif_postgres import queries

Q = queries.load("auth")
HEADER = "X-API-Key"
_header = APIKeyHeader(
    name=HEADER, auto_error=False, description="an API key (tarif admin create-key)"
)


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    AUDITOR = "auditor"


READ = frozenset(Role)
OPERATE = frozenset({Role.ADMIN, Role.OPERATOR})
ADMIN = frozenset({Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: int
    prefix: str
    role: Role

    @property
    def actor(self) -> str:
        return self.prefix if self.key_id == 0 else f"key:{self.prefix}"


SYSTEM = Principal(0, "system", Role.ADMIN)  # Tarif's own jobs (scheduled plan transitions)


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


async def create_key(conn: asyncpg.Connection, role: Role, name: str = "") -> tuple[str, str]:
    """A new key; returns (key, prefix). The key itself is not stored."""
    prefix = "tk_" + secrets.token_hex(4)
    key = f"{prefix}_{secrets.token_urlsafe(32)}"
    await conn.execute(Q.insert_key, prefix, digest(key), role.value, name)
    return key, prefix


async def authenticate(pool: asyncpg.Pool, key: str) -> Principal | None:
    if not key or len(key) > 200:
        return None
    row = await pool.fetchrow(Q.key_by_hash, digest(key))
    if row is None:
        return None
    if row["stale"]:  # a write per minute, not per request (every commit is an fsync)
        await pool.execute(Q.touch_key, row["id"])
    return Principal(row["id"], row["prefix"], Role(row["role"]))


def require(roles: frozenset[Role]) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller's key must be valid (401) and its role in `roles` (403)."""

    async def check(request: Request, key: Annotated[str | None, Depends(_header)]) -> Principal:
        principal = await authenticate(request.app.state.pool, key or "")
        if principal is None:
            raise HTTPException(401, "Missing or invalid API key", {"WWW-Authenticate": HEADER})
        if principal.role not in roles:
            raise HTTPException(403, f"Role {principal.role} may not do this")
        request.state.principal = principal
        return principal

    return check


Reader = Annotated[Principal, Depends(require(READ))]
Operator = Annotated[Principal, Depends(require(OPERATE))]
Admin = Annotated[Principal, Depends(require(ADMIN))]
