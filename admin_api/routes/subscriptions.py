"""Routes of a customer's balance groups and subscriptions: opening one, its products, packs
and vouchers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request

from admin_api import balance_groups, customers, purchases, subscriptions, vouchers
from admin_api.answers.customers import SubscriptionSummary
from admin_api.answers.subscriptions import BalanceGroup, Purchase, VoucherUsed
from admin_api.auth import Admin, Operator, Reader
from admin_api.paging import Page, Paging, paging
from admin_api.problems import REFUSED
from admin_api.routes.answering import router as new_router
from admin_api.routes.deps import Pool, settle, sync_engine
from admin_api.schemas import (
    BalanceGroupNew,
    BalanceGroupPatch,
    PackPurchase,
    PurchasePatch,
    Redemption,
    SubscriptionIn,
)

router = new_router(prefix="/v1/customers", tags=["subscriptions"])

CustomerId = Annotated[int, Path(ge=1, le=2**62)]
GroupName = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Paged = Annotated[Paging, Depends(paging)]


@router.get(
    "/{customer_id}/balance-groups", response_model=Page[BalanceGroup], summary="Balance groups"
)
async def list_balance_groups(
    _: Reader, pool: Pool, customer_id: CustomerId, page: Paged
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await balance_groups.list_groups(conn, customer_id, page)
    return {"items": items, "next_cursor": cursor}


@router.post(
    "/{customer_id}/balance-groups",
    status_code=201,
    response_model=BalanceGroup,
    summary="Add a balance group",
)
async def create_balance_group(
    who: Admin, pool: Pool, customer_id: CustomerId, body: BalanceGroupNew
) -> dict[str, Any]:
    """An empty group (an engine account once a subscription with a service is in it)."""
    async with pool.acquire() as conn:
        return await balance_groups.create(conn, who, customer_id, body)


@router.patch(
    "/{customer_id}/balance-groups/{name}",
    response_model=BalanceGroup,
    summary="Billing profile, validity",
)
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
    response_model=SubscriptionSummary,
    responses=REFUSED,
    summary="Add a subscription (in a balance group)",
)
async def add_subscription(
    who: Admin, pool: Pool, request: Request, customer_id: CustomerId, body: SubscriptionIn
) -> dict[str, Any]:
    """All or nothing, like onboarding: its services can be charged as soon as it answers,
    which is the new subscription. Prepaid, when the engine refuses the payment of its plan's
    products (402), the subscription stays open and its products are kept as `refused`: the
    problem's `state` names them."""
    async with pool.acquire() as conn:
        opened, account_id = await subscriptions.add(
            conn, request.app.state.redis, who, customer_id, body
        )
        await sync_engine(request, "account", account_id, conn)
    sid = opened.subscription_id
    await settle(
        request, opened.adjustments, account_id,
        f"; subscription {sid} stays open (cancel it if it should not)", {"subscription_id": sid},
    )  # fmt: skip
    async with pool.acquire() as conn:
        return await customers.get_subscription(conn, customer_id, sid)


SubscriptionId = Annotated[int, Path(ge=1, le=2**62)]
PurchaseId = Annotated[int, Path(ge=1, le=2**62)]
_PRODUCTS = "/{customer_id}/subscriptions/{subscription_id}/products"


@router.get(
    _PRODUCTS,
    response_model=Page[Purchase],
    summary="Products bought (plan bundles, packs, vouchers)",
)
async def list_products(
    _: Reader, pool: Pool, customer_id: CustomerId, subscription_id: SubscriptionId, page: Paged
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await purchases.list_purchases(conn, customer_id, subscription_id, page)
    return {"items": items, "next_cursor": cursor}


@router.post(
    "/{customer_id}/subscriptions/{subscription_id}/packs",
    status_code=201,
    response_model=Page[Purchase],
    responses=REFUSED,
    summary="Buy an option pack",
)
async def buy_pack(
    who: Admin,
    pool: Pool,
    request: Request,
    customer_id: CustomerId,
    subscription_id: SubscriptionId,
    body: PackPurchase,
) -> dict[str, Any]:
    """Prepaid: paid at once from the group's money balance; when the engine refuses the
    payment (402), the purchases are kept as `refused` (listed with the products, nothing
    granted) and the problem's `state` names them; a retry with the same `request_id` gets the
    same answer. Postpaid: its prices go to the bills."""
    async with pool.acquire() as conn:
        bought = await purchases.buy_pack(
            conn, who, customer_id, subscription_id, body, subscriptions.redeem_coupon,
            subscriptions.checker(request.app.state.redis),
        )  # fmt: skip
        account_id = await subscriptions.account_of(conn, subscription_id)
        await sync_engine(request, "account", account_id, conn)
    await settle(request, [bought.adjustment] if bought.adjustment else [], account_id)
    async with pool.acquire() as conn:
        items = [await purchases.get(conn, p) for p in bought.purchases]
    return {"items": items, "next_cursor": None}


@router.patch(
    _PRODUCTS + "/{purchase_id}",
    response_model=Purchase,
    responses=REFUSED,
    summary="Modify a product (quantity, value, end)",
)
async def modify_product(
    who: Admin,
    pool: Pool,
    request: Request,
    customer_id: CustomerId,
    subscription_id: SubscriptionId,
    purchase_id: PurchaseId,
    body: PurchasePatch,
) -> dict[str, Any]:
    """What it grants moves by the difference at once; the new price counts from the next
    charge."""
    async with pool.acquire() as conn:
        account_id, adjustment = await purchases.modify(
            conn, who, customer_id, subscription_id, purchase_id, body
        )
        await sync_engine(request, "account", account_id, conn)
    await settle(
        request, [adjustment] if adjustment else [], account_id,
        f"; product {purchase_id} has its new terms, its balance did not move",
        {"purchase_id": purchase_id},
    )  # fmt: skip
    async with pool.acquire() as conn:
        return await purchases.get(conn, purchase_id)


@router.post(
    _PRODUCTS + "/{purchase_id}/cancel", response_model=Purchase, summary="Cancel a product"
)
async def cancel_product(
    who: Admin,
    pool: Pool,
    request: Request,
    customer_id: CustomerId,
    subscription_id: SubscriptionId,
    purchase_id: PurchaseId,
) -> dict[str, Any]:
    """No more charges or renewals; its services stop at once, what it granted stays usable
    until its end."""
    async with pool.acquire() as conn:
        account_id = await purchases.cancel(conn, who, customer_id, subscription_id, purchase_id)
        await sync_engine(request, "account", account_id, conn)
        return await purchases.get(conn, purchase_id)


@router.post(
    "/{customer_id}/subscriptions/{subscription_id}/vouchers",
    response_model=VoucherUsed,
    responses=REFUSED,
    summary="Apply a voucher to a subscription (a credit, or a pack bought free)",
)
async def apply_voucher(
    who: Operator,
    pool: Pool,
    request: Request,
    customer_id: CustomerId,
    subscription_id: SubscriptionId,
    body: Redemption,
) -> dict[str, Any]:
    """Once per customer: a second time is a 409 saying the code was already redeemed."""
    done = await vouchers.redeem(
        pool, request.app.state.store, who, customer_id, body.code, subscription_id
    )
    if done.get("account"):
        await sync_engine(request, "account", done["account"])
    return done
