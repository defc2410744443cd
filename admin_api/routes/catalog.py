"""/v1/catalog: the published catalog, its versions and its objects one by one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Depends, Path, Request

from admin_api import catalog
from admin_api.answers.catalog import (
    CatalogItem,
    CatalogSection,
    CatalogVersion,
    Published,
    VersionInfo,
)
from admin_api.auth import Admin, Reader
from admin_api.paging import Page, Paging, paging
from admin_api.routes.answering import router as new_router
from admin_api.routes.deps import Pool, sync_engine

router = new_router(tags=["catalog"])


@router.get(
    "/v1/catalog", response_model=CatalogVersion, summary="The published catalog and its version"
)
async def get_catalog(_: Reader, pool: Pool) -> dict[str, Any]:
    async with pool.acquire() as conn:
        version, document = await catalog.latest(conn)
    return {"version": version, "document": document}


@router.put("/v1/catalog", response_model=CatalogVersion, summary="Publish a new catalog version")
async def publish(
    who: Admin,
    pool: Pool,
    request: Request,
    document: Annotated[dict[str, Any], Body(description="resources, service_types, tariffs...")],
) -> dict[str, Any]:
    """Validated whole; kept as a new version; the engines switch to it without a restart.
    A document that drops a plan an active subscription is on, or that a scheduled plan
    transition targets, is refused (409, naming the plan and how many use it)."""
    async with pool.acquire() as conn:
        version = await catalog.publish_now(conn, who, document)
    await sync_engine(request, "catalog", "catalog")
    return {"version": version, "document": document}


@router.get(
    "/v1/catalog/versions",
    response_model=Page[VersionInfo],
    summary="Published versions, newest first",
)
async def versions(
    _: Reader, pool: Pool, page: Annotated[Paging, Depends(paging)]
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await catalog.versions(conn, page)
    return {"items": items, "next_cursor": cursor}


Section = Annotated[
    str,
    Path(pattern=f"^({'|'.join(catalog.SECTIONS)})$", description="a section of the catalog"),
]
ItemName = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:+-]{1,64}$")]


@router.get(
    "/v1/catalog/{section}",
    response_model=CatalogSection,
    summary="The objects of one catalog section",
)
async def get_section(
    _: Reader, pool: Pool, section: Section, page: Annotated[Paging, Depends(paging)]
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        version, (items, cursor) = await catalog.section(conn, section, page)
    return {"version": version, "items": items, "next_cursor": cursor}


@router.get(
    "/v1/catalog/{section}/{name}", response_model=CatalogItem, summary="One catalog object"
)
async def get_item(_: Reader, pool: Pool, section: Section, name: ItemName) -> dict[str, Any]:
    async with pool.acquire() as conn:
        version, item = await catalog.item(conn, section, name)
    return {"version": version, "name": name, "item": item}


@router.put(
    "/v1/catalog/{section}/{name}",
    response_model=CatalogItem,
    summary="Create or replace one catalog object",
)
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


@router.delete(
    "/v1/catalog/{section}/{name}", response_model=Published, summary="Remove one catalog object"
)
async def delete_item(
    who: Admin, pool: Pool, request: Request, section: Section, name: ItemName
) -> dict[str, Any]:
    """Publishes a new catalog version without the object: refused (422) while another object
    of the catalog names it, and a plan (409) while a subscription or a scheduled plan
    transition uses it."""
    async with pool.acquire() as conn:
        version = await catalog.delete_item(conn, who, section, name)
    await sync_engine(request, "catalog", "catalog")
    return {"version": version}
