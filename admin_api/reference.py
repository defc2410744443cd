"""Reference data: small tables of named entries that customers, adjustments and messages refer
to (customer types, custom attributes, ledgers, taxes, mail templates).

Each table is one `Table`: its trusted name and columns fill the slots of the shared queries
in `sql/reference.sql` once, when the table is described; what may still use an entry is a
named query of its own. An entry in use cannot be deleted (409).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg
from pydantic import BaseModel

from admin_api import audit
from admin_api.auth import Principal
from admin_api.paging import Keyset, Listed, Paging
from admin_api.schemas import AttributeDef, CustomerType, Ledger, MailTemplate, Tax
from tarif_common.errors import Conflict, NotFound
from tarif_postgres import queries

Q = queries.load("reference")


@dataclass(frozen=True)
class Table:
    """One reference table; its queries composed from trusted names only."""

    table: str  # a trusted SQL identifier, e.g. "ledgers"
    noun: str  # "ledger": in messages and audit records
    model: type[BaseModel]  # the body of a put: its fields are the table's columns
    in_use: str | None = None  # the name of a query: a row while something uses the entry
    sql: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        columns = self.columns
        slots = {
            "table": self.table,
            "columns": ", ".join(["name", *columns]),
            "values": ", ".join(f"${i + 2}" for i in range(len(columns))),
            "updates": ", ".join(f"{c} = excluded.{c}" for c in columns),
        }
        composed = {
            name: queries.compose(Q[name], **slots)
            for name in (
                "reference_entries",
                "reference_entry",
                "reference_entry_locked",
                "put_reference_entry",
                "delete_reference_entry",
            )
        }
        object.__setattr__(self, "sql", composed)
        if self.in_use is not None and self.in_use not in Q:
            raise KeyError(f"no query {self.in_use!r} in sql/reference.sql")

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.model.model_fields)


CUSTOMER_TYPES = Table("customer_types", "customer_type", CustomerType, "customer_type_in_use")
CUSTOM_ATTRIBUTES = Table(
    "custom_attributes", "custom_attribute", AttributeDef, "custom_attribute_in_use"
)
LEDGERS = Table("ledgers", "ledger", Ledger, "ledger_in_use")
TAXES = Table("taxes", "tax", Tax, "tax_in_use")
MAIL_TEMPLATES = Table("mail_templates", "mail_template", MailTemplate)


async def entries(conn: asyncpg.Connection, t: Table, page: Paging) -> Listed:
    """A page of entries, by name."""
    keyset = Keyset(t.table, "name", "")
    rows = await conn.fetch(t.sql["reference_entries"], keyset.after(page), page.limit)
    return keyset.page(rows, page)


async def entry(conn: asyncpg.Connection, t: Table, name: str) -> dict[str, Any]:
    row = await conn.fetchrow(t.sql["reference_entry"], name)
    if row is None:
        raise NotFound(f"no {t.noun} {name!r}")
    return dict(row)


async def put(
    conn: asyncpg.Connection, who: Principal, t: Table, name: str, values: dict[str, Any]
) -> dict[str, Any]:
    """Create or replace the entry; returns it as written."""
    async with conn.transaction():
        before = await conn.fetchrow(t.sql["reference_entry_locked"], name)
        await conn.execute(t.sql["put_reference_entry"], name, *(values[c] for c in t.columns))
        await audit.record(
            conn, who, f"{t.noun}.put", t.noun, name, dict(before) if before else None, values
        )
    return {"name": name, **values}


async def delete(conn: asyncpg.Connection, who: Principal, t: Table, name: str) -> None:
    """Refused (409) while something uses the entry."""
    async with conn.transaction():
        if t.in_use is not None and await conn.fetchval(Q[t.in_use], name):
            raise Conflict(f"{t.noun} {name!r} is in use")
        gone = await conn.fetchrow(t.sql["delete_reference_entry"], name)
        if gone is None:
            raise NotFound(f"no {t.noun} {name!r}")
        await audit.record(conn, who, f"{t.noun}.delete", t.noun, name, dict(gone))
