"""The one place where asyncpg's errors become Tarif's (`TarifError` subclasses).

Every pooled connection is a `TarifConnection`: its statements raise `Duplicate` (unique
violation, with the constraint's name), `MissingReference` (foreign key), `DatabaseUnavailable`
(connection lost, server shutting down, serialization or deadlock: worth a retry) or
`DatabaseError` (anything else). So code above the storage layer never imports the driver's
exceptions. A transaction's COMMIT runs through `execute` too, so deferred checks are translated.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import asyncpg

from tarif_common.errors import (
    DatabaseError,
    DatabaseUnavailable,
    Duplicate,
    MissingReference,
    TarifError,
)

P = ParamSpec("P")
R = TypeVar("R")

# SQLSTATE classes worth retrying: connection exceptions, operator intervention, serialization
# failure and deadlock.
_TRANSIENT_STATES = ("08", "57", "40001", "40P01", "53")


def translate(exc: BaseException) -> TarifError:
    """The Tarif error for a driver error (or an OSError on the socket)."""
    if isinstance(exc, asyncpg.UniqueViolationError):
        return Duplicate(exc.detail or str(exc), constraint=exc.constraint_name or "")
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return MissingReference(exc.detail or str(exc), constraint=exc.constraint_name or "")
    if isinstance(exc, asyncpg.PostgresError):
        state = exc.sqlstate or ""
        if state.startswith(_TRANSIENT_STATES):
            return DatabaseUnavailable(f"{type(exc).__name__}: {exc}")
        return DatabaseError(f"{type(exc).__name__}: {exc}", sqlstate=state)
    return DatabaseUnavailable(f"{type(exc).__name__}: {exc}")


# InternalClientError: asyncpg's protocol state broken by a connection cut mid-statement
# ("cannot switch to state ...; another operation is in progress"); the connection is gone,
# a retry on another one is right
_DRIVER_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)


def _translated(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    return call


class TarifConnection(asyncpg.Connection):  # type: ignore[misc]
    """An asyncpg connection whose statements raise Tarif's errors."""

    execute = _translated(asyncpg.Connection.execute)
    executemany = _translated(asyncpg.Connection.executemany)
    fetch = _translated(asyncpg.Connection.fetch)
    fetchrow = _translated(asyncpg.Connection.fetchrow)
    fetchval = _translated(asyncpg.Connection.fetchval)
    copy_records_to_table = _translated(asyncpg.Connection.copy_records_to_table)
    copy_to_table = _translated(asyncpg.Connection.copy_to_table)


# What a Postgres call may raise: Tarif's database errors from a statement and, from connecting
# (`pool.acquire()`), the driver's own. Retry loops of the processes catch these.
DB_ERRORS: tuple[type[BaseException], ...] = (
    *_DRIVER_ERRORS,
    DatabaseUnavailable,
    DatabaseError,
    Duplicate,
    MissingReference,
)
