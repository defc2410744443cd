"""/v1/customers: list, search, export, onboard, details, account changes (contacts:
`contacts.py`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from admin_api import (
    balances,
    billing_profiles,
    customers,
    details,
    manual_events,
    services,
    subscriptions,
    usage,
    vouchers,
)
from admin_api.answers.balances import (
    AdjustmentRecord,
    CreatedBalance,
    LiveBalance,
    ManualEventCharged,
    RatedEvent,
    UsageAdjusted,
)
from admin_api.answers.customers import Customer, CustomerSummary, Notification
from admin_api.answers.subscriptions import (
    BillingProfile,
    PlanChanged,
    PlanTransition,
    Service,
    VoucherUsed,
)
from admin_api.auth import Admin, Operator, Reader, Role
from admin_api.paging import MAX_ID, Keyset, Listing, Page, Paging, Select, listing, order, paging
from admin_api.problems import REFUSED
from admin_api.routes.answering import router as new_router
from admin_api.routes.deps import Pool, settle, sync_accounts, sync_engine
from admin_api.schemas import (
    AccountPatch,
    Adjustment,
    BillingProfileNew,
    BillingProfilePatch,
    ManualEvent,
    NewBalance,
    Onboarding,
    PaymentChange,
    PlanChange,
    Redemption,
    ServiceNew,
    ServicePatch,
    UsageAdjustment,
)
from tarif_common.errors import InvalidRequest
from tarif_notifications.store import list_notifications

router = new_router(prefix="/v1/customers", tags=["customers"])

CustomerId = Annotated[int, Path(ge=1, le=2**62)]
Paged = Annotated[Paging, Depends(paging)]
Short = Annotated[str | None, Query(max_length=200)]


async def filters(
    q: Short = None,
    full_name: Short = None,
    email: Short = None,
    address: Short = None,
    city: Short = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    status: Annotated[str | None, Query(pattern=r"^(active|inactive|closed|deleted)$")] = None,
    customer_type: Short = None,
    payment_method: Annotated[
        str | None, Query(pattern=r"^(invoice|credit_card|direct_debit)$")
    ] = None,
    account_id: Annotated[
        str | None,
        Query(max_length=128, description="an engine account id of any of its balance groups"),
    ] = None,
    service: Annotated[
        str | None,
        Query(max_length=128, description="a service identifier (MSISDN) of its subscriptions"),
    ] = None,
) -> dict[str, str | None]:
    """`q` searches words (prefixes) of name, e-mail, address, city and organisation;
    `full_name` and `email` match a prefix; the others match exactly."""
    return {
        "account_id": account_id,
        "service": service,
        "q": q,
        "full_name": full_name,
        "email": email,
        "address": address,
        "city": city,
        "country": country,
        "status": status,
        "customer_type": customer_type,
        "payment_method": payment_method,
    }


Filters = Annotated[dict[str, str | None], Depends(filters)]


@router.get("", response_model=Page[CustomerSummary], summary="List and search customers")
async def list_customers(
    _: Reader, pool: Pool, found: Filters, page: Annotated[Listing, Depends(listing)]
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await customers.list_customers(conn, page, found)
    return {"items": items, "next_cursor": cursor}


@router.get(
    "/export",
    summary="Customers as CSV (same filters and sort as the list)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
async def export(
    _: Reader,
    pool: Pool,
    found: Filters,
    sort: Annotated[str | None, Query(max_length=64)] = None,
    include: Annotated[
        str | None,
        Query(
            pattern=r"^(subscriptions|services)(,(subscriptions|services))?$",
            description="`subscriptions`, `services` or both (comma-separated): a column each, "
            'still one row per customer, the values joined by "; "',
        ),
    ] = None,
) -> StreamingResponse:
    """One row per customer, so the file holds what the list shows; with `include`, the plans
    of its active subscriptions and its services in use (active, on an active subscription,
    within their validity) as two more columns."""
    order(Select(), Listing(1, None, sort), customers.SORTS, "id", "c.id")  # 422 before streaming
    return StreamingResponse(
        customers.export_csv(pool, found, sort, include.split(",") if include else ()),
        media_type="text/csv",
        headers={"content-disposition": 'attachment; filename="customers.csv"'},
    )


@router.post(
    "",
    status_code=201,
    response_model=Customer,
    responses=REFUSED,
    summary="Onboard a customer",
)
async def onboard(who: Admin, pool: Pool, request: Request, body: Onboarding) -> dict[str, Any]:
    """Account, payment, contacts and a subscription with its services and balances: all of
    it is created, or nothing (e.g. a service identifier already in use: 409). A prepaid
    price its new balance cannot pay is refused (422) before anything is written; should the
    engine still refuse the payment (402), the customer stays onboarded and the products are
    kept as `refused` (the problem's `state` names them)."""
    async with pool.acquire() as conn:
        customer_id, account_id, payments = await customers.onboard(
            conn,
            request.app.state.redis,
            who,
            body,
            creditor_id=request.app.state.settings.sepa_creditor_id,
        )
        await sync_engine(request, "account", account_id, conn)
        if body.sharing is not None:
            await sync_engine(request, "group", body.sharing.group, conn)
    await settle(
        request, payments, account_id, f"; customer {customer_id} stays onboarded",
        {"customer_id": customer_id},
    )  # fmt: skip
    async with pool.acquire() as conn:
        return await customers.get_customer(conn, customer_id)


@router.get("/{customer_id}", response_model=Customer, summary="A customer's details")
async def get(_: Reader, pool: Pool, request: Request, customer_id: CustomerId) -> dict[str, Any]:
    """Balances live from the engine (`balances_source: live`), or, when the engine cannot
    give them, as provisioned with `balances_note` saying why."""
    async with pool.acquire() as conn:
        return await details.customer_details(conn, request.app.state.engine, customer_id)


@router.patch("/{customer_id}", response_model=Customer, summary="Edit account info or status")
async def patch(
    who: Admin, pool: Pool, request: Request, customer_id: CustomerId, body: AccountPatch
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        accounts = await customers.update_account(conn, who, customer_id, body)
    await sync_accounts(request, accounts)
    async with pool.acquire() as conn:
        return await customers.get_customer(conn, customer_id)


@router.post("/{customer_id}/close", response_model=Customer, summary="Close the account")
async def close(
    who: Admin, pool: Pool, request: Request, customer_id: CustomerId
) -> dict[str, Any]:
    """The engine refuses its usage at once; its postpaid charges so far are billed now (an
    invoice each, see the billing profiles' bills); a later job deletes it after the retention,
    once none of its invoices is due."""
    async with pool.acquire() as conn:
        accounts = await customers.close_account(conn, who, customer_id, request.app.state.settings)
    await sync_accounts(request, accounts)
    async with pool.acquire() as conn:
        return await customers.get_customer(conn, customer_id)


@router.get(
    "/{customer_id}/notifications",
    response_model=Page[Notification],
    summary="Notifications and their deliveries",
)
async def notifications(
    _: Reader, pool: Pool, customer_id: CustomerId, page: Paged
) -> dict[str, Any]:
    """Newest first."""
    before_id = NOTIFICATIONS.after(page)
    async with pool.acquire() as conn:
        accounts = await customers.accounts_of(conn, customer_id)
        rows = await list_notifications(
            conn, accounts=accounts, before_id=before_id, limit=page.limit
        )
    items, cursor = NOTIFICATIONS.page(rows, page)
    return {"items": items, "next_cursor": cursor}


NOTIFICATIONS = Keyset("notifications", "id", MAX_ID)


@router.put("/{customer_id}/payment", response_model=Customer, summary="Change payment info")
async def put_payment(
    who: Admin, pool: Pool, request: Request, customer_id: CustomerId, body: PaymentChange
) -> dict[str, Any]:
    """A direct debit's mandate becomes the customer's active one (409: another customer
    holds its reference; 422: the BIC is not of the IBAN's bank); another method revokes it."""
    async with pool.acquire() as conn:
        await subscriptions.set_payment(
            conn, who, customer_id, body, creditor_id=request.app.state.settings.sepa_creditor_id
        )
        return await customers.get_customer(conn, customer_id)


SubscriptionId = Annotated[int, Path(ge=1, le=2**62)]


@router.put(
    "/{customer_id}/subscriptions/{subscription_id}/plan",
    response_model=PlanChanged,
    responses=REFUSED,
    summary="Plan transition, now or at a date",
)
async def change_plan(
    who: Admin,
    pool: Pool,
    request: Request,
    customer_id: CustomerId,
    subscription_id: SubscriptionId,
    body: PlanChange,
) -> dict[str, Any]:
    """Without `effective_at`, now; with a future one, scheduled; a past one is refused (422
    naming `body.effective_at`), never applied late. Prepaid, the new plan's bundles are paid
    at once: when the engine refuses the payment (402), the subscription is on the new plan,
    the old plan's products are cancelled and the new ones kept as `refused` (the problem's
    `state` names them)."""
    async with pool.acquire() as conn:
        account_id, done = await subscriptions.change_plan(
            conn, who, customer_id, subscription_id, body
        )
        if done["status"] == "done":
            await sync_engine(request, "account", account_id, conn)
    if done.get("adjustment_id"):
        await settle(
            request, [done["adjustment_id"]], account_id,
            f"; subscription {subscription_id} is on plan {done['plan']!r} now, its old plan's"
            " products cancelled", {"subscription_id": subscription_id, "plan": done["plan"]},
        )  # fmt: skip
    return done


@router.get(
    "/{customer_id}/plan-transitions",
    response_model=Page[PlanTransition],
    summary="Plan transitions, scheduled and done",
)
async def plan_transitions(
    _: Reader, pool: Pool, customer_id: CustomerId, page: Paged
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        await customers.account_of(conn, customer_id)
        items, cursor = await subscriptions.transitions(conn, customer_id, page)
    return {"items": items, "next_cursor": cursor}


@router.post(
    "/{customer_id}/subscriptions/{subscription_id}/cancel",
    response_model=Customer,
    summary="Cancel a subscription (its services stop at once)",
)
async def cancel_subscription(
    who: Admin,
    pool: Pool,
    request: Request,
    customer_id: CustomerId,
    subscription_id: SubscriptionId,
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        account_id = await subscriptions.cancel(conn, who, customer_id, subscription_id)
        await sync_engine(request, "account", account_id, conn)
        return await customers.get_customer(conn, customer_id)


@router.post(
    "/{customer_id}/events",
    response_model=ManualEventCharged,
    responses=REFUSED,
    summary="Enter a usage event by hand (through the engine)",
)
async def manual_event(
    who: Operator, pool: Pool, request: Request, customer_id: CustomerId, body: ManualEvent
) -> dict[str, Any]:
    """Rated and charged by the engine like network usage; `request_id` (the engine's event
    id) makes a retry harmless. Refused by the engine, nothing is charged: a problem whose
    `result` is the engine's (CREDIT_LIMIT_REACHED: 402; USER_UNKNOWN: 404 and RATING_FAILED:
    422, both kept as unratable usage for review)."""
    return await manual_events.enter(pool, request.app.state.engine, who, customer_id, body)


@router.get(
    "/{customer_id}/balances",
    response_model=Page[LiveBalance],
    summary="Live balances (from the engine)",
)
async def get_balances(
    _: Reader, pool: Pool, request: Request, customer_id: CustomerId, page: Paged
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await balances.live_page(conn, request.app.state.engine, customer_id, page)
    return {"items": items, "next_cursor": cursor}


@router.post(
    "/{customer_id}/balances",
    status_code=201,
    response_model=CreatedBalance,
    summary="Create a credit or debit balance",
)
async def create_balance(
    who: Admin, pool: Pool, request: Request, customer_id: CustomerId, body: NewBalance
) -> dict[str, Any]:
    """Valid for the current cycle (until next month starts in the catalog's time zone), until
    a date, or forever; a debit balance starts below zero (owed)."""
    async with pool.acquire() as conn:
        account_id = await balances.create(conn, who, customer_id, body)
        synced = await sync_engine(request, "account", account_id, conn)
        items = await balances.live(conn, request.app.state.engine, customer_id)
    created = next((b for b in items if b["id"] == body.id), None)
    return {"balance": created, "engine": "synced" if synced else "pending"}


BalanceId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


@router.post(
    "/{customer_id}/balances/{balance_id}/adjustments",
    response_model=AdjustmentRecord,
    responses=REFUSED,
    summary="Adjust a balance (once per request_id)",
)
async def adjust_balance(
    who: Operator,
    pool: Pool,
    request: Request,
    customer_id: CustomerId,
    balance_id: BalanceId,
    body: Adjustment,
) -> dict[str, Any]:
    """Operators may adjust up to TARIF_OPERATOR_ADJUSTMENT_LIMIT (in the resource's unit).
    Refused by the engine (e.g. below the balance's floor: 402), the adjustment stays recorded
    as `refused` (the problem's `state` names it) and a retry with the same `request_id` gets
    the same answer."""
    limit = request.app.state.settings.operator_adjustment_limit
    if who.role is Role.OPERATOR and abs(Decimal(body.amount)) > limit:
        raise HTTPException(403, f"Operators may adjust at most {limit}")
    async with pool.acquire() as conn:
        adjustment_id = await balances.request_adjustment(conn, who, customer_id, balance_id, body)
    done = await balances.apply(pool, request.app.state.store, adjustment_id)
    if refused := balances.refusal(done):
        raise refused
    return done


@router.get(
    "/{customer_id}/adjustments",
    response_model=Page[AdjustmentRecord],
    summary="Balance adjustments",
)
async def list_adjustments(
    _: Reader, pool: Pool, customer_id: CustomerId, page: Paged
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await balances.adjustments(conn, customer_id, page)
    return {"items": items, "next_cursor": cursor}


Since = Annotated[datetime | None, Query(alias="from", description="event time, inclusive")]
Until = Annotated[datetime | None, Query(alias="to", description="event time, exclusive")]


@router.get(
    "/{customer_id}/usage",
    response_model=Page[RatedEvent],
    summary="Rated usage of a period, oldest first",
)
async def list_usage(
    _: Reader,
    pool: Pool,
    customer_id: CustomerId,
    start: Since = None,
    end: Until = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, next_cursor = await usage.list_usage(conn, customer_id, start, end, limit, cursor)
    return {"items": items, "next_cursor": next_cursor}


@router.get(
    "/{customer_id}/usage/export",
    summary="Rated usage of a period as CSV",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_usage(
    _: Reader, pool: Pool, customer_id: CustomerId, start: Since = None, end: Until = None
) -> StreamingResponse:
    async with pool.acquire() as conn:
        await customers.account_of(conn, customer_id)  # 404 before the stream starts
    if start is not None and end is not None and end <= start:
        raise InvalidRequest("query.to", "must be after from")
    return StreamingResponse(
        usage.export_csv(pool, customer_id, start, end),
        media_type="text/csv",
        headers={"content-disposition": 'attachment; filename="usage.csv"'},
    )


@router.post(
    "/{customer_id}/usage/adjustments",
    response_model=UsageAdjusted,
    responses=REFUSED,
    summary="Lower a charged event's amount",
)
async def adjust_usage(
    who: Operator, pool: Pool, request: Request, customer_id: CustomerId, body: UsageAdjustment
) -> dict[str, Any]:
    """The engine refunds the difference (once per `request_id`, the engine's refund id) to
    the balances it came from; refused by the engine, a problem (nothing refunded)."""
    async with pool.acquire() as conn:
        return await usage.adjust_amount(conn, request.app.state.engine, who, customer_id, body)


@router.post(
    "/{customer_id}/vouchers",
    response_model=VoucherUsed,
    responses=REFUSED,
    summary="Apply a voucher (credited once per customer)",
)
async def redeem_voucher(
    who: Operator, pool: Pool, request: Request, customer_id: CustomerId, body: Redemption
) -> dict[str, Any]:
    """Once per customer: a second time is a 409 saying the code was already redeemed."""
    return await vouchers.redeem(pool, request.app.state.store, who, customer_id, body.code)


ServiceIdentifier = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:@+-]{1,128}$")]


@router.get(
    "/{customer_id}/services",
    response_model=Page[Service],
    summary="Service identifiers, devices, validity, status",
)
async def list_services(
    _: Reader, pool: Pool, customer_id: CustomerId, page: Paged
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await services.services_page(conn, customer_id, page)
    return {"items": items, "next_cursor": cursor}


@router.post(
    "/{customer_id}/subscriptions/{subscription_id}/services",
    status_code=201,
    response_model=Page[Service],
    summary="Add a service identifier (unique across all customers)",
)
async def add_service(
    who: Admin,
    pool: Pool,
    request: Request,
    customer_id: CustomerId,
    subscription_id: SubscriptionId,
    body: ServiceNew,
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        account_id = await services.add(
            conn, request.app.state.redis, who, customer_id, subscription_id, body
        )
        await sync_engine(request, "account", account_id, conn)
        return {"items": await services.list_services(conn, customer_id), "next_cursor": None}


@router.patch(
    "/{customer_id}/services/{identifier}",
    response_model=Page[Service],
    summary="Rename, suspend or resume, set validity or devices",
)
async def change_service(
    who: Admin,
    pool: Pool,
    request: Request,
    customer_id: CustomerId,
    identifier: ServiceIdentifier,
    body: ServicePatch,
) -> dict[str, Any]:
    """Suspended or out of validity, a service's usage is refused by the engine (USER_UNKNOWN)
    and kept as unratable usage for review."""
    async with pool.acquire() as conn:
        account_id, _ = await services.change(
            conn, request.app.state.redis, who, customer_id, identifier, body
        )
        await sync_engine(request, "account", account_id, conn)
        return {"items": await services.list_services(conn, customer_id), "next_cursor": None}


@router.delete("/{customer_id}/services/{identifier}", status_code=204, summary="Remove a service")
async def remove_service(
    who: Admin, pool: Pool, request: Request, customer_id: CustomerId, identifier: ServiceIdentifier
) -> Response:
    async with pool.acquire() as conn:
        account_id = await services.remove(conn, who, customer_id, identifier)
        await sync_engine(request, "account", account_id, conn)
    return Response(status_code=204)


@router.get(
    "/{customer_id}/billing-profiles",
    response_model=Page[BillingProfile],
    summary="Billing profiles",
)
async def list_billing_profiles(
    _: Reader, pool: Pool, customer_id: CustomerId, page: Paged
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await billing_profiles.list_profiles(conn, customer_id, page)
    return {"items": items, "next_cursor": cursor}


@router.post(
    "/{customer_id}/billing-profiles",
    status_code=201,
    response_model=BillingProfile,
    summary="Add a billing profile",
)
async def create_billing_profile(
    who: Admin, pool: Pool, customer_id: CustomerId, body: BillingProfileNew
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await billing_profiles.create(conn, who, customer_id, body)


ProfileId = Annotated[int, Path(ge=1, le=2**62)]


@router.patch(
    "/{customer_id}/billing-profiles/{profile_id}",
    response_model=BillingProfile,
    summary="Change billing day, interval, validity",
)
async def change_billing_profile(
    who: Admin,
    pool: Pool,
    customer_id: CustomerId,
    profile_id: ProfileId,
    body: BillingProfilePatch,
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await billing_profiles.update(conn, who, customer_id, profile_id, body)
