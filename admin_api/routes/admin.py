"""/v1/api-keys, /v1/audit-log, /v1/vouchers and /v1/coupons."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Response

from admin_api import api_keys, audit, coupons, vouchers
from admin_api.answers.administration import ApiKey, AuditRecord, Coupon, NewApiKey, Voucher
from admin_api.auth import Admin, Reader, Role
from admin_api.coupons import CouponNew
from admin_api.paging import Page, Paging, paging
from admin_api.routes.answering import router as new_router
from admin_api.routes.deps import Pool
from admin_api.schemas import KeyRequest, VoucherNew

router = new_router(tags=["administration"])

Paged = Annotated[Paging, Depends(paging)]
Since = Annotated[datetime | None, Query(alias="from", description="`at` from, inclusive")]
Until = Annotated[datetime | None, Query(alias="to", description="`at` until, exclusive")]


@router.get(
    "/v1/api-keys", response_model=Page[ApiKey], summary="API keys (never the keys themselves)"
)
async def list_keys(_: Admin, pool: Pool, page: Paged) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await api_keys.list_keys(conn, page)
    return {"items": items, "next_cursor": cursor}


@router.post(
    "/v1/api-keys", status_code=201, response_model=NewApiKey, summary="Create a key (shown once)"
)
async def new_key(who: Admin, pool: Pool, body: KeyRequest) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await api_keys.new_key(conn, who, Role(body.role), body.name)


@router.delete("/v1/api-keys/{prefix}", status_code=204, summary="Revoke a key")
async def revoke(
    who: Admin, pool: Pool, prefix: Annotated[str, Path(pattern=r"^tk_[0-9a-f]{8}$")]
) -> Response:
    async with pool.acquire() as conn:
        await api_keys.revoke(conn, who, prefix)
    return Response(status_code=204)


@router.get(
    "/v1/audit-log", response_model=Page[AuditRecord], summary="Who changed what, newest first"
)
async def audit_log(
    _: Reader,
    pool: Pool,
    page: Paged,
    object_type: Annotated[str | None, Query(max_length=64)] = None,
    object_id: Annotated[str | None, Query(max_length=128)] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    since: Since = None,
    until: Until = None,
) -> dict[str, Any]:
    """Filters combine; `from` and `to` bound the time half-open, [from, to)."""
    async with pool.acquire() as conn:
        items, cursor = await audit.page(
            conn, page, object_type=object_type, object_id=object_id, actor=actor,
            since=since, until=until,
        )  # fmt: skip
    return {"items": items, "next_cursor": cursor}


VoucherCode = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{4,64}$")]


@router.get("/v1/vouchers", response_model=Page[Voucher], summary="Vouchers")
async def list_vouchers(_: Reader, pool: Pool, page: Paged) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await vouchers.list_all(conn, page)
    return {"items": items, "next_cursor": cursor}


@router.post("/v1/vouchers", status_code=201, response_model=Voucher, summary="Create a voucher")
async def create_voucher(who: Admin, pool: Pool, body: VoucherNew) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await vouchers.create(conn, who, body)


@router.get(
    "/v1/vouchers/{code}", response_model=Voucher, summary="One voucher and how often it was used"
)
async def get_voucher(_: Reader, pool: Pool, code: VoucherCode) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await vouchers.get(conn, code)


@router.delete("/v1/vouchers/{code}", status_code=204, summary="Delete an unused voucher")
async def delete_voucher(who: Admin, pool: Pool, code: VoucherCode) -> Response:
    async with pool.acquire() as conn:
        await vouchers.delete(conn, who, code)
    return Response(status_code=204)


CouponCode = Annotated[str, Path(pattern=coupons.CODE_PATTERN)]


@router.get("/v1/coupons", response_model=Page[Coupon], summary="Coupons")
async def list_coupons(_: Reader, pool: Pool, page: Paged) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await coupons.list_all(conn, page)
    return {"items": items, "next_cursor": cursor}


@router.post("/v1/coupons", status_code=201, response_model=Coupon, summary="Create a coupon")
async def create_coupon(who: Admin, pool: Pool, body: CouponNew) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await coupons.create(conn, who, body)


@router.get(
    "/v1/coupons/{code}", response_model=Coupon, summary="One coupon and how often it was used"
)
async def get_coupon(_: Reader, pool: Pool, code: CouponCode) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await coupons.get(conn, code)


@router.delete("/v1/coupons/{code}", status_code=204, summary="Delete an unused coupon")
async def delete_coupon(who: Admin, pool: Pool, code: CouponCode) -> Response:
    async with pool.acquire() as conn:
        await coupons.delete(conn, who, code)
    return Response(status_code=204)
