"""/v1/hierarchy-groups: whose invoices go to whom."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path

from admin_api import hierarchy
from admin_api.answers.groups import GroupSummary, HierarchyGroup
from admin_api.auth import Admin, Reader
from admin_api.paging import Page, Paging, paging
from admin_api.routes.answering import router as new_router
from admin_api.routes.deps import Pool
from admin_api.schemas import HierarchyNew, HierarchyPatch

router = new_router(prefix="/v1/hierarchy-groups", tags=["hierarchy"])

GroupId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
CustomerId = Annotated[int, Path(ge=1, le=2**62)]


@router.get("", response_model=Page[GroupSummary], summary="Hierarchy groups")
async def list_groups(
    _: Reader, pool: Pool, page: Annotated[Paging, Depends(paging)]
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await hierarchy.list_groups(conn, page)
    return {"items": items, "next_cursor": cursor}


@router.post("", status_code=201, response_model=HierarchyGroup, summary="Create a hierarchy group")
async def create(who: Admin, pool: Pool, body: HierarchyNew) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await hierarchy.create(conn, who, body)


@router.get(
    "/{group_id}", response_model=HierarchyGroup, summary="A hierarchy group and its members"
)
async def get(_: Reader, pool: Pool, group_id: GroupId) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await hierarchy.get(conn, group_id)


@router.patch(
    "/{group_id}",
    response_model=HierarchyGroup,
    summary="Cancel, or change the billing profile that pays",
)
async def patch(who: Admin, pool: Pool, group_id: GroupId, body: HierarchyPatch) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await hierarchy.update(conn, who, group_id, body)


@router.put(
    "/{group_id}/members/{customer_id}", response_model=HierarchyGroup, summary="Add a member"
)
async def join(
    who: Admin, pool: Pool, group_id: GroupId, customer_id: CustomerId
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await hierarchy.join(conn, who, group_id, customer_id)


@router.delete(
    "/{group_id}/members/{customer_id}", response_model=HierarchyGroup, summary="Remove a member"
)
async def leave(
    who: Admin, pool: Pool, group_id: GroupId, customer_id: CustomerId
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await hierarchy.leave(conn, who, group_id, customer_id)
