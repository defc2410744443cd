"""/v1/catalog, /v1/customer-types, /v1/custom-attributes: what customers are built from."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request, Response

from admin_api import audit, catalog
from admin_api.auth import Admin, Reader
from admin_api.problems import COMMON
from admin_api.routes.deps import Pool, sync_engine
from admin_api.schemas import AttributeDef, CustomerType
from tarif_common.errors import Conflict, NotFound

router = APIRouter(tags=["catalog"], responses=COMMON)

Name = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


@router.get("/v1/catalog", summary="The published catalog and its version")
async def get_catalog(_: Reader, pool: Pool) -> dict[str, Any]:
    async with pool.acquire() as conn:
        version, document = await catalog.latest(conn)
    return {"version": version, "document": document}


@router.put("/v1/catalog", summary="Publish a new catalog version")
async def publish(
    who: Admin,
    pool: Pool,
    request: Request,
    document: Annotated[dict[str, Any], Body(description="resources, service_types, tariffs...")],
) -> dict[str, Any]:
    """Validated whole; kept as a new version; the engines switch to it without a restart."""
    async with pool.acquire() as conn, conn.transaction():
        version = await catalog.publish(conn, who, document)
    await sync_engine(request, "catalog", "catalog")
    return {"version": version, "document": document}


@router.get("/v1/catalog/versions", summary="Published versions, newest first")
async def versions(_: Reader, pool: Pool) -> dict[str, Any]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT version, published_at, published_by FROM catalog_versions"
            " ORDER BY version DESC LIMIT 100"
        )
    return {"items": [dict(r) for r in rows], "next_cursor": None}


Section = Annotated[
    str,
    Path(pattern=f"^({'|'.join(catalog.SECTIONS)})$", description="a section of the catalog"),
]
ItemName = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:+-]{1,64}$")]


@router.get("/v1/catalog/{section}", summary="The objects of one catalog section")
async def get_section(_: Reader, pool: Pool, section: Section) -> dict[str, Any]:
    async with pool.acquire() as conn:
        version, document = await catalog.latest(conn)
    items = [{"name": k, **v} for k, v in sorted(document.get(section, {}).items())]
    return {"version": version, "items": items, "next_cursor": None}


@router.get("/v1/catalog/{section}/{name}", summary="One catalog object")
async def get_item(_: Reader, pool: Pool, section: Section, name: ItemName) -> dict[str, Any]:
    async with pool.acquire() as conn:
        version, document = await catalog.latest(conn)
    item = document.get(section, {}).get(name)
    if item is None:
        raise NotFound(f"no {section} {name!r} in the catalog")
    return {"version": version, "name": name, "item": item}


@router.put("/v1/catalog/{section}/{name}", summary="Create or replace one catalog object")
async def put_item(
    who: Admin,
    pool: Pool,
    request: Request,
    section: Section,
    name: ItemName,
    item: Annotated[dict[str, Any], Body(description="the object, as in the catalog document")],
) -> dict[str, Any]:
    """Publishes a new catalog version (validated whole: a tariff naming an unknown resource is
    refused with the path of the problem)."""
    async with pool.acquire() as conn:
        version = await catalog.put_item(conn, who, section, name, item)
    await sync_engine(request, "catalog", "catalog")
    return {"version": version, "name": name, "item": item}


@router.delete("/v1/catalog/{section}/{name}", summary="Remove one catalog object")
async def delete_item(
    who: Admin, pool: Pool, request: Request, section: Section, name: ItemName
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        version = await catalog.delete_item(conn, who, section, name)
    await sync_engine(request, "catalog", "catalog")
    return {"version": version}


@router.get("/v1/customer-types", summary="Customer types")
async def customer_types(_: Reader, pool: Pool) -> dict[str, Any]:
    rows = await pool.fetch("SELECT name, description FROM customer_types ORDER BY name")
    return {"items": [dict(r) for r in rows], "next_cursor": None}


@router.put("/v1/customer-types/{name}", summary="Create or change a customer type")
async def put_customer_type(
    who: Admin, pool: Pool, name: Name, body: CustomerType
) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        before = await conn.fetchrow("SELECT description FROM customer_types WHERE name = $1", name)
        await conn.execute(
            """INSERT INTO customer_types (name, description) VALUES ($1, $2)
               ON CONFLICT (name) DO UPDATE SET description = excluded.description""",
            name,
            body.description,
        )
        await audit.record(
            conn, who, "customer_type.put", "customer_type", name,
            dict(before) if before else None, body.model_dump(),
        )  # fmt: skip
    return {"name": name, **body.model_dump()}


@router.delete("/v1/customer-types/{name}", status_code=204, summary="Delete an unused type")
async def delete_customer_type(who: Admin, pool: Pool, name: Name) -> Response:
    async with pool.acquire() as conn, conn.transaction():
        used = await conn.fetchval("SELECT 1 FROM customers WHERE customer_type = $1 LIMIT 1", name)
        if used:
            raise Conflict(f"customer type {name!r} is in use")
        gone = await conn.fetchrow(
            "DELETE FROM customer_types WHERE name = $1 RETURNING description", name
        )
        if gone is None:
            raise NotFound(f"no customer type {name!r}")
        await audit.record(conn, who, "customer_type.delete", "customer_type", name, dict(gone))
    return Response(status_code=204)


@router.get("/v1/custom-attributes", summary="Declared custom attributes")
async def custom_attributes(_: Reader, pool: Pool) -> dict[str, Any]:
    rows = await pool.fetch(
        "SELECT name, type, required, description FROM custom_attributes ORDER BY name"
    )
    return {"items": [dict(r) for r in rows], "next_cursor": None}


@router.put("/v1/custom-attributes/{name}", summary="Declare or change a custom attribute")
async def put_custom_attribute(
    who: Admin, pool: Pool, name: Name, body: AttributeDef
) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        before = await conn.fetchrow(
            "SELECT type, required, description FROM custom_attributes WHERE name = $1", name
        )
        await conn.execute(
            """INSERT INTO custom_attributes (name, type, required, description)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (name) DO UPDATE SET type = excluded.type,
                   required = excluded.required, description = excluded.description""",
            name,
            body.type,
            body.required,
            body.description,
        )
        await audit.record(
            conn, who, "custom_attribute.put", "custom_attribute", name,
            dict(before) if before else None, body.model_dump(),
        )  # fmt: skip
    return {"name": name, **body.model_dump()}


@router.delete("/v1/custom-attributes/{name}", status_code=204, summary="Delete an attribute")
async def delete_custom_attribute(who: Admin, pool: Pool, name: Name) -> Response:
    async with pool.acquire() as conn, conn.transaction():
        used = await conn.fetchval(
            "SELECT 1 FROM customers WHERE custom_attributes ? $1 LIMIT 1", name
        )
        if used:
            raise Conflict(f"custom attribute {name!r} is in use")
        gone = await conn.fetchrow(
            "DELETE FROM custom_attributes WHERE name = $1 RETURNING type, required, description",
            name,
        )
        if gone is None:
            raise NotFound(f"no custom attribute {name!r}")
        await audit.record(
            conn, who, "custom_attribute.delete", "custom_attribute", name, dict(gone)
        )
    return Response(status_code=204)
