"""Routes of a customer's balance groups and subscriptions (opening one; its products)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from admin_api import balance_groups, customers, subscriptions
from admin_api.auth import Admin, Reader
from admin_api.problems import COMMON
from admin_api.routes.deps import Pool, settle, sync_engine
from admin_api.schemas import BalanceGroupNew, BalanceGroupPatch, Customer, SubscriptionIn

router = APIRouter(prefix="/v1/customers", tags=["subscriptions"], responses=COMMON)

CustomerId = Annotated[int, Path(ge=1, le=2**62)]
GroupName = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


@router.get("/{customer_id}/balance-groups", summary="Balance groups")
async def list_balance_groups(_: Reader, pool: Pool, customer_id: CustomerId) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return {"items": await balance_groups.list_groups(conn, customer_id), "next_cursor": None}


@router.post("/{customer_id}/balance-groups", status_code=201, summary="Add a balance group")
async def create_balance_group(
    who: Admin, pool: Pool, customer_id: CustomerId, body: BalanceGroupNew
) -> dict[str, Any]:
    """An empty group (an engine account once a subscription with a service is in it)."""
    async with pool.acquire() as conn:
        return await balance_groups.create(conn, who, customer_id, body)


@router.patch("/{customer_id}/balance-groups/{name}", summary="Billing profile, validity")
async def change_balance_group(
    who: Admin,
    pool: Pool,
    request: Request,
    customer_id: CustomerId,
    name: GroupName,
    body: BalanceGroupPatch,
) -> dict[str, Any]:
    """Outside its validity the engine refuses the usage of the group's services."""
    async with pool.acquire() as conn:
        account_id, after = await balance_groups.update(conn, who, customer_id, name, body)
        await sync_engine(request, "account", account_id, conn)
    return after


@router.post(
    "/{customer_id}/subscriptions",
    status_code=201,
    response_model=Customer,
    summary="Add a subscription (in a balance group)",
)
async def add_subscription(
    who: Admin, pool: Pool, request: Request, customer_id: CustomerId, body: SubscriptionIn
) -> dict[str, Any]:
    """All or nothing, like onboarding: its services can be charged as soon as it answers."""
    async with pool.acquire() as conn:
        opened, account_id = await subscriptions.add(
            conn, request.app.state.redis, who, customer_id, body
        )
        await sync_engine(request, "account", account_id, conn)
    await settle(request, opened.adjustments, account_id)
    async with pool.acquire() as conn:
        return await customers.get_customer(conn, customer_id)
