"""Reference data with the same four endpoints each: list, get, put (create or replace), delete.

Customer types, custom attributes, ledgers, taxes and mail templates are small named tables
(`admin_api/reference.py`); one description of each (path, table, answer, name pattern, more
validation) gives its routes.
(No `from __future__ import annotations` here: FastAPI must see the body models themselves.)
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Response

from admin_api import reference
from admin_api.answers.base import Answer
from admin_api.answers.catalog import (
    AttributeEntry,
    CustomerTypeEntry,
    LedgerEntry,
    MailTemplateEntry,
    TaxEntry,
)
from admin_api.auth import Admin, Reader
from admin_api.paging import Page, Paging, paging
from admin_api.routes.answering import router as new_router
from admin_api.routes.deps import Pool

router = new_router(tags=["reference data"])


@dataclass(frozen=True)
class Reference:
    path: str  # "/v1/ledgers"
    table: reference.Table
    answer: type[Answer]  # one entry as answered: its name and the table's columns
    name_pattern: str
    check: Callable[[str, Any], None] | None = None  # more validation of (name, body)


def add(ref: Reference) -> None:
    t = ref.table
    if set(ref.answer.model_fields) != {"name", *t.columns}:
        raise TypeError(f"{ref.answer.__name__} does not answer the columns of {t.table}")
    Name = Annotated[str, Path(pattern=ref.name_pattern)]

    async def list_all(
        _: Reader, pool: Pool, page: Annotated[Paging, Depends(paging)]
    ) -> dict[str, Any]:
        async with pool.acquire() as conn:
            items, cursor = await reference.entries(conn, t, page)
        return {"items": items, "next_cursor": cursor}

    async def get_one(_: Reader, pool: Pool, name: Name) -> dict[str, Any]:
        async with pool.acquire() as conn:
            return await reference.entry(conn, t, name)

    async def put(who: Admin, pool: Pool, name: Name, body: t.model) -> dict[str, Any]:  # type: ignore[name-defined]
        if ref.check is not None:
            ref.check(name, body)
        async with pool.acquire() as conn:
            return await reference.put(conn, who, t, name, body.model_dump())

    async def delete(who: Admin, pool: Pool, name: Name) -> Response:
        async with pool.acquire() as conn:
            await reference.delete(conn, who, t, name)
        return Response(status_code=204)

    plural = ref.path.rsplit("/", 1)[-1]
    router.add_api_route(
        ref.path,
        list_all,
        methods=["GET"],
        response_model=Page[ref.answer],  # type: ignore[name-defined]
        summary=f"List {plural}",
        name=f"list_{plural}",
    )
    item = f"{ref.path}/{{name}}"
    router.add_api_route(
        item,
        get_one,
        methods=["GET"],
        response_model=ref.answer,
        summary=f"One {t.noun}",
        name=f"get_{t.noun}",
    )
    router.add_api_route(
        item,
        put,
        methods=["PUT"],
        response_model=ref.answer,
        summary=f"Create or replace a {t.noun}",
        name=f"put_{t.noun}",
    )
    router.add_api_route(
        item,
        delete,
        methods=["DELETE"],
        status_code=204,
        summary=f"Delete a {t.noun}",
        name=f"delete_{t.noun}",
    )


def _template_check(name: str, body: Any) -> None:
    from tarif_notifications.messages import check_template

    check_template(name, body.body)


SIMPLE_NAME = r"^[a-z][a-z0-9_]{0,62}$"
CODE = r"^[A-Za-z0-9_.-]{1,64}$"

for described in (
    Reference("/v1/customer-types", reference.CUSTOMER_TYPES, CustomerTypeEntry, SIMPLE_NAME),
    Reference("/v1/custom-attributes", reference.CUSTOM_ATTRIBUTES, AttributeEntry, SIMPLE_NAME),
    Reference("/v1/ledgers", reference.LEDGERS, LedgerEntry, CODE),
    Reference("/v1/taxes", reference.TAXES, TaxEntry, CODE),
    Reference(
        "/v1/mail-templates", reference.MAIL_TEMPLATES, MailTemplateEntry,
        r"^[a-z0-9_]{1,64}\.(email|sms)$", check=_template_check,
    ),
):  # fmt: skip
    add(described)
