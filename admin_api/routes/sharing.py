"""/v1/sharing-groups: owners' balances shared with members, managed from the back office."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request

from admin_api import sharing
from admin_api.answers.groups import GroupSummary, SharingGroup
from admin_api.auth import Admin, Reader
from admin_api.paging import Page, Paging, paging
from admin_api.routes.answering import router as new_router
from admin_api.routes.deps import Pool, sync_engine
from admin_api.schemas import MemberStatus, SharingGroupNew, SharingGroupPatch

router = new_router(prefix="/v1/sharing-groups", tags=["sharing"])

GroupId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
CustomerId = Annotated[int, Path(ge=1, le=2**62)]


@router.get("", response_model=Page[GroupSummary], summary="Sharing groups")
async def list_groups(
    _: Reader, pool: Pool, page: Annotated[Paging, Depends(paging)]
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await sharing.list_groups(conn, page)
    return {"items": items, "next_cursor": cursor}


@router.post("", status_code=201, response_model=SharingGroup, summary="Create a sharing group")
async def create(who: Admin, pool: Pool, request: Request, body: SharingGroupNew) -> dict[str, Any]:
    """Written to the engine before it is committed: what the engine refuses (a member with
    open sessions, an unknown resource, a negative cap) is a 409 or 422 and nothing is kept."""
    async with pool.acquire() as conn:
        created = await sharing.create(conn, request.app.state.redis, who, body)
        await sync_engine(request, "group", body.id, conn)
    return created


@router.get("/{group_id}", response_model=SharingGroup, summary="A sharing group and its members")
async def get(_: Reader, pool: Pool, group_id: GroupId) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await sharing.get(conn, group_id)


@router.patch(
    "/{group_id}",
    response_model=SharingGroup,
    summary="Cancel, change the policy or the validity",
)
async def patch(
    who: Admin, pool: Pool, request: Request, group_id: GroupId, body: SharingGroupPatch
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        done = await sharing.update(conn, request.app.state.redis, who, group_id, body)
        await sync_engine(request, "group", group_id, conn)
    return done


@router.put(
    "/{group_id}/members/{customer_id}",
    response_model=SharingGroup,
    summary="Join, or suspend/resume a member",
)
async def put_member(
    who: Admin,
    pool: Pool,
    request: Request,
    group_id: GroupId,
    customer_id: CustomerId,
    body: MemberStatus,
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        done = await sharing.put_member(
            conn, request.app.state.redis, who, group_id, customer_id, body
        )
        await sync_engine(request, "group", group_id, conn)
    return done


@router.delete(
    "/{group_id}/members/{customer_id}", response_model=SharingGroup, summary="Leave the group"
)
async def remove_member(
    who: Admin, pool: Pool, request: Request, group_id: GroupId, customer_id: CustomerId
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        done = await sharing.remove_member(
            conn, request.app.state.redis, who, group_id, customer_id
        )
        await sync_engine(request, "group", group_id, conn)
    return done
