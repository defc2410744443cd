"""Self-care users: a customer's own login (for a portal), managed from the back office.

Passwords are hashed with argon2id (argon2-cffi's defaults, rehashed when they change);
verification and reset tokens are random, shown once, stored as SHA-256, single use and short
lived. Nothing here ever returns a password or a hash.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from admin_api import audit
from admin_api.auth import Principal
from tarif_common.errors import Conflict, Duplicate, InvalidRequest, NotFound

_hasher = PasswordHasher()
VERIFICATION_TTL = timedelta(hours=24)
RESET_TTL = timedelta(hours=1)

_PUBLIC = """id, customer_id, email, enabled, email_verified_at IS NOT NULL AS email_verified,
    email_verified_at, created_at, updated_at"""


async def _hash(password: str) -> str:
    """argon2 is slow on purpose: off the event loop."""
    return await asyncio.to_thread(_hasher.hash, password)


async def _verify(password_hash: str, password: str) -> bool:
    try:
        return await asyncio.to_thread(_hasher.verify, password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _token() -> tuple[str, bytes]:
    token = secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode()).digest()


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def get(conn: asyncpg.Connection, customer_id: int) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"SELECT {_PUBLIC} FROM selfcare_users WHERE customer_id = $1", customer_id
    )
    if row is None:
        raise NotFound(f"customer {customer_id} has no self-care user")
    return dict(row)


async def create(
    conn: asyncpg.Connection, who: Principal, customer_id: int, email: str, password: str
) -> dict[str, Any]:
    password_hash = await _hash(password)  # before the transaction: argon2 is slow on purpose
    async with conn.transaction():
        if await conn.fetchval("SELECT 1 FROM customers WHERE id = $1", customer_id) is None:
            raise NotFound(f"no customer {customer_id}")
        try:
            await conn.execute(
                """INSERT INTO selfcare_users (customer_id, email, password_hash)
                   VALUES ($1, $2, $3)""",
                customer_id,
                email,
                password_hash,
            )
        except Duplicate as exc:
            what = "e-mail" if "email" in str(exc) else "customer"
            raise Conflict(f"a self-care user with this {what} exists") from None
        user = await get(conn, customer_id)
        await audit.record(conn, who, "selfcare.create", "customer", str(customer_id), None, user)
    return user


async def update(
    conn: asyncpg.Connection,
    who: Principal,
    customer_id: int,
    *,
    email: str | None,
    enabled: bool | None,
    password: str | None,
) -> dict[str, Any]:
    if email is None and enabled is None and password is None:
        raise InvalidRequest("body", "nothing to change")
    password_hash = await _hash(password) if password is not None else None
    async with conn.transaction():
        before = await get(conn, customer_id)
        try:
            await conn.execute(
                """UPDATE selfcare_users SET
                       email = coalesce($2, email),
                       -- a new address must be verified again
                       email_verified_at = CASE WHEN $2::text IS NULL OR lower($2) = lower(email)
                                           THEN email_verified_at END,
                       enabled = coalesce($3, enabled),
                       password_hash = coalesce($4, password_hash),
                       failed_logins = CASE WHEN $4::text IS NULL THEN failed_logins ELSE 0 END,
                       updated_at = now()
                   WHERE customer_id = $1""",
                customer_id,
                email,
                enabled,
                password_hash,
            )
        except Duplicate:
            raise Conflict("a self-care user with this e-mail exists") from None
        after = await get(conn, customer_id)
        change = {k: v for k, v in {"email": email, "enabled": enabled}.items() if v is not None}
        if password is not None:
            change["password"] = "changed"
        await audit.record(
            conn, who, "selfcare.update", "customer", str(customer_id),
            {k: before[k] for k in change if k in before}, change,
        )  # fmt: skip
    return after


async def delete(conn: asyncpg.Connection, who: Principal, customer_id: int) -> None:
    async with conn.transaction():
        before = await get(conn, customer_id)
        await conn.execute("DELETE FROM selfcare_users WHERE customer_id = $1", customer_id)
        await audit.record(conn, who, "selfcare.delete", "customer", str(customer_id), before)


async def issue_token(
    conn: asyncpg.Connection, who: Principal, customer_id: int, purpose: str
) -> dict[str, Any]:
    """A one-time token for e-mail verification or a password reset (shown once)."""
    token, digest = _token()
    ttl = VERIFICATION_TTL if purpose == "verification" else RESET_TTL
    expires = datetime.now(UTC) + ttl
    column = "verification" if purpose == "verification" else "reset"
    async with conn.transaction():
        user = await get(conn, customer_id)
        if purpose == "verification" and user["email_verified"]:
            raise Conflict("the e-mail address is verified already")
        await conn.execute(
            f"""UPDATE selfcare_users SET {column}_hash = $2, {column}_expires_at = $3
                WHERE customer_id = $1""",
            customer_id,
            digest,
            expires,
        )
        await audit.record(conn, who, f"selfcare.{column}_token", "customer", str(customer_id))
    return {"token": token, "expires_at": expires, "email": user["email"]}


async def verify_email(
    conn: asyncpg.Connection, who: Principal, customer_id: int, token: str
) -> dict[str, Any]:
    async with conn.transaction():
        done = await conn.fetchval(
            """UPDATE selfcare_users SET email_verified_at = now(), verification_hash = NULL,
                   verification_expires_at = NULL, updated_at = now()
               WHERE customer_id = $1 AND verification_hash = $2
                 AND verification_expires_at > now() RETURNING id""",
            customer_id,
            _digest(token),
        )
        if done is None:
            raise InvalidRequest("body.token", "is not valid (wrong, used or expired)")
        await audit.record(conn, who, "selfcare.verified", "customer", str(customer_id))
        return await get(conn, customer_id)


async def reset_password(
    conn: asyncpg.Connection, who: Principal, customer_id: int, token: str, password: str
) -> dict[str, Any]:
    password_hash = await _hash(password)
    async with conn.transaction():
        done = await conn.fetchval(
            """UPDATE selfcare_users SET password_hash = $3, reset_hash = NULL,
                   reset_expires_at = NULL, failed_logins = 0, updated_at = now()
               WHERE customer_id = $1 AND reset_hash = $2 AND reset_expires_at > now()
               RETURNING id""",
            customer_id,
            _digest(token),
            password_hash,
        )
        if done is None:
            raise InvalidRequest("body.token", "is not valid (wrong, used or expired)")
        await audit.record(conn, who, "selfcare.password_reset", "customer", str(customer_id))
        return await get(conn, customer_id)


async def check_login(conn: asyncpg.Connection, email: str, password: str) -> dict[str, Any] | None:
    """The self-care user these credentials belong to, if enabled; None otherwise."""
    row = await conn.fetchrow(
        "SELECT id, customer_id, password_hash, enabled FROM selfcare_users"
        " WHERE lower(email) = lower($1)",
        email,
    )
    if row is None:
        await _hash(password)  # the same work as a real check: no timing hint of who exists
        return None
    if not await _verify(row["password_hash"], password):
        await conn.execute(
            "UPDATE selfcare_users SET failed_logins = failed_logins + 1 WHERE id = $1", row["id"]
        )
        return None
    if not row["enabled"]:
        return None
    if _hasher.check_needs_rehash(row["password_hash"]):
        await conn.execute(
            "UPDATE selfcare_users SET password_hash = $2 WHERE id = $1",
            row["id"],
            await _hash(password),
        )
    await conn.execute("UPDATE selfcare_users SET failed_logins = 0 WHERE id = $1", row["id"])
    return await get(conn, row["customer_id"])
