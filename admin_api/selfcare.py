"""Self-care users: a customer's own login (for a portal), managed from the back office.

Passwords are hashed with argon2id (argon2-cffi's defaults, rehashed when they change);
verification and reset tokens are random, single use and short lived, stored as SHA-256 and
e-mailed to the user through the notifier (never shown to the operator). Nothing here ever
returns a password, a hash or a token.
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
from tarif_notifications import store
from tarif_postgres import queries

Q = queries.load("selfcare")
CUSTOMERS = queries.load("customers")

_hasher = PasswordHasher()
VERIFICATION_TTL = timedelta(hours=24)
RESET_TTL = timedelta(hours=1)


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
    row = await conn.fetchrow(Q.selfcare_user, customer_id)
    if row is None:
        raise NotFound(f"customer {customer_id} has no self-care user")
    return dict(row)


async def create(
    conn: asyncpg.Connection, who: Principal, customer_id: int, email: str, password: str
) -> dict[str, Any]:
    password_hash = await _hash(password)  # before the transaction: argon2 is slow on purpose
    async with conn.transaction():
        if await conn.fetchval(CUSTOMERS.customer_exists, customer_id) is None:
            raise NotFound(f"no customer {customer_id}")
        try:
            await conn.execute(Q.insert_selfcare_user, customer_id, email, password_hash)
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
            await conn.execute(Q.update_selfcare_user, customer_id, email, enabled, password_hash)
        except Duplicate:
            raise Conflict("a self-care user with this e-mail exists") from None
        after = await get(conn, customer_id)
        if after["email"] != before["email"]:  # a token mailed to the old address is void
            await store.cancel_selfcare_mails(conn, customer_id, None, "e-mail address changed")
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
        await conn.execute(Q.delete_selfcare_user, customer_id)
        await store.cancel_selfcare_mails(conn, customer_id, None, "self-care user deleted")
        await audit.record(conn, who, "selfcare.delete", "customer", str(customer_id), before)


async def issue_token(
    conn: asyncpg.Connection, who: Principal, customer_id: int, purpose: str
) -> dict[str, Any]:
    """A one-time token for e-mail verification or a password reset, e-mailed to the self-care
    user by the notifier (billing_batch): its delivery is retried and recorded like any
    notification's. Nobody else sees the token, the operator neither."""
    token, digest = _token()
    ttl = VERIFICATION_TTL if purpose == "verification" else RESET_TTL
    expires = datetime.now(UTC) + ttl
    column = "verification" if purpose == "verification" else "reset"
    async with conn.transaction():
        user = await get(conn, customer_id)
        if purpose == "verification" and user["email_verified"]:
            raise Conflict("the e-mail address is verified already")
        kept = Q.set_verification_token if column == "verification" else Q.set_reset_token
        await conn.execute(kept, customer_id, digest, expires)
        mail = "verification" if column == "verification" else "password_reset"
        delivery_id = await store.queue_selfcare_mail(
            conn, customer_id, mail, user["email"], token, expires
        )
        mailed = {"email": user["email"], "delivery_id": delivery_id}
        await audit.record(
            conn, who, f"selfcare.{column}_token", "customer", str(customer_id), None, mailed
        )
    return {"email": user["email"], "expires_at": expires, "delivery_id": delivery_id}


async def verify_email(
    conn: asyncpg.Connection, who: Principal, customer_id: int, token: str
) -> dict[str, Any]:
    async with conn.transaction():
        done = await conn.fetchval(Q.verify_email, customer_id, _digest(token))
        if done is None:
            raise InvalidRequest("body.token", "is not valid (wrong, used or expired)")
        await audit.record(conn, who, "selfcare.verified", "customer", str(customer_id))
        return await get(conn, customer_id)


async def reset_password(
    conn: asyncpg.Connection, who: Principal, customer_id: int, token: str, password: str
) -> dict[str, Any]:
    password_hash = await _hash(password)
    async with conn.transaction():
        done = await conn.fetchval(Q.reset_password, customer_id, _digest(token), password_hash)
        if done is None:
            raise InvalidRequest("body.token", "is not valid (wrong, used or expired)")
        await audit.record(conn, who, "selfcare.password_reset", "customer", str(customer_id))
        return await get(conn, customer_id)


async def check_login(conn: asyncpg.Connection, email: str, password: str) -> dict[str, Any] | None:
    """The self-care user these credentials belong to, if enabled; None otherwise."""
    row = await conn.fetchrow(Q.login_by_email, email)
    if row is None:
        await _hash(password)  # the same work as a real check: no timing hint of who exists
        return None
    if not await _verify(row["password_hash"], password):
        await conn.execute(Q.count_failed_login, row["id"])
        return None
    if not row["enabled"]:
        return None
    if _hasher.check_needs_rehash(row["password_hash"]):
        await conn.execute(Q.rehash_password, row["id"], await _hash(password))
    await conn.execute(Q.clear_failed_logins, row["id"])
    return await get(conn, row["customer_id"])
