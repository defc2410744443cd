"""Reference data with the same four endpoints each: list, get, put (create or replace), delete.

Customer types, custom attributes, ledgers, taxes and mail templates are small named tables;
one description of each (table, body model, what may still use an entry) gives its routes.
(No `from __future__ import annotations` here: FastAPI must see the body models themselves.)
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel

from admin_api import audit
from admin_api.auth import Admin, Reader
from admin_api.problems import COMMON
from admin_api.routes.deps import Pool
from admin_api.schemas import AttributeDef, CustomerType, Ledger, MailTemplate, Tax
from tarif_common.errors import Conflict, NotFound

router = APIRouter(tags=["reference data"], responses=COMMON)


@dataclass(frozen=True)
class Reference:
    path: str  # "/v1/ledgers"
    table: str  # trusted SQL identifier
    noun: str  # "ledger"
    model: type[BaseModel]
    name_pattern: str
    in_use: str | None = None  # SQL, $1 = name: a row when something still uses the entry
    check: Callable[[str, Any], None] | None = None  # more validation of (name, body)


def _columns(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def add(ref: Reference) -> None:
    columns = _columns(ref.model)
    listed = ", ".join(["name", *columns])
    Name = Annotated[str, Path(pattern=ref.name_pattern)]

    async def list_all(_: Reader, pool: Pool) -> dict[str, Any]:
        rows = await pool.fetch(f"SELECT {listed} FROM {ref.table} ORDER BY name")
        return {"items": [dict(r) for r in rows], "next_cursor": None}

    async def get_one(_: Reader, pool: Pool, name: Name) -> dict[str, Any]:
        row = await pool.fetchrow(f"SELECT {listed} FROM {ref.table} WHERE name = $1", name)
        if row is None:
            raise NotFound(f"no {ref.noun} {name!r}")
        return dict(row)

    async def put(who: Admin, pool: Pool, name: Name, body: ref.model) -> dict[str, Any]:  # type: ignore[name-defined]
        if ref.check is not None:
            ref.check(name, body)
        values = body.model_dump()
        placeholders = ", ".join(f"${i + 2}" for i in range(len(columns)))
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns)
        async with pool.acquire() as conn, conn.transaction():
            before = await conn.fetchrow(
                f"SELECT {listed} FROM {ref.table} WHERE name = $1 FOR UPDATE", name
            )
            await conn.execute(
                f"INSERT INTO {ref.table} (name, {', '.join(columns)}) VALUES ($1, {placeholders})"
                f" ON CONFLICT (name) DO UPDATE SET {updates}",
                name,
                *(values[c] for c in columns),
            )
            await audit.record(
                conn, who, f"{ref.noun}.put", ref.noun, name,
                dict(before) if before else None, values,
            )  # fmt: skip
        return {"name": name, **values}

    async def delete(who: Admin, pool: Pool, name: Name) -> Response:
        async with pool.acquire() as conn, conn.transaction():
            if ref.in_use and await conn.fetchval(ref.in_use, name):
                raise Conflict(f"{ref.noun} {name!r} is in use")
            gone = await conn.fetchrow(
                f"DELETE FROM {ref.table} WHERE name = $1 RETURNING {listed}", name
            )
            if gone is None:
                raise NotFound(f"no {ref.noun} {name!r}")
            await audit.record(conn, who, f"{ref.noun}.delete", ref.noun, name, dict(gone))
        return Response(status_code=204)

    plural = ref.path.rsplit("/", 1)[-1]
    router.add_api_route(
        ref.path, list_all, methods=["GET"], summary=f"List {plural}", name=f"list_{plural}"
    )
    item = f"{ref.path}/{{name}}"
    router.add_api_route(
        item, get_one, methods=["GET"], summary=f"One {ref.noun}", name=f"get_{ref.noun}"
    )
    router.add_api_route(
        item,
        put,
        methods=["PUT"],
        summary=f"Create or replace a {ref.noun}",
        name=f"put_{ref.noun}",
    )
    router.add_api_route(
        item,
        delete,
        methods=["DELETE"],
        status_code=204,
        summary=f"Delete a {ref.noun}",
        name=f"delete_{ref.noun}",
    )


def _template_check(name: str, body: Any) -> None:
    from tarif_notifications.messages import check_template

    check_template(name, body.body)


SIMPLE_NAME = r"^[a-z][a-z0-9_]{0,62}$"
CODE = r"^[A-Za-z0-9_.-]{1,64}$"

for reference in (
    Reference(
        "/v1/customer-types", "customer_types", "customer_type", CustomerType, SIMPLE_NAME,
        in_use="SELECT 1 FROM customers WHERE customer_type = $1 LIMIT 1",
    ),
    Reference(
        "/v1/custom-attributes", "custom_attributes", "custom_attribute", AttributeDef,
        SIMPLE_NAME, in_use="SELECT 1 FROM customers WHERE custom_attributes ? $1 LIMIT 1",
    ),
    Reference(
        "/v1/ledgers", "ledgers", "ledger", Ledger, CODE,
        in_use="SELECT 1 FROM balance_adjustments WHERE ledger = $1 LIMIT 1",
    ),
    Reference(
        "/v1/taxes", "taxes", "tax", Tax, CODE,
        in_use="SELECT 1 FROM balance_adjustments WHERE tax = $1 LIMIT 1",
    ),
    Reference(
        "/v1/mail-templates", "mail_templates", "mail_template", MailTemplate,
        r"^[a-z0-9_]{1,64}\.(email|sms)$", check=_template_check,
    ),
):  # fmt: skip
    add(reference)
