"""/v1/api-keys, /v1/audit-log, /v1/vouchers and /v1/coupons."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from admin_api import audit, coupons, vouchers
from admin_api.auth import Admin, Reader, Role, create_key
from admin_api.coupons import CouponNew
from admin_api.problems import COMMON
from admin_api.routes.deps import Pool
from admin_api.schemas import KeyRequest, VoucherNew
from tarif_common.errors import NotFound

router = APIRouter(tags=["administration"], responses=COMMON)


@router.get("/v1/api-keys", summary="API keys (never the keys themselves)")
async def list_keys(_: Admin, pool: Pool) -> dict[str, Any]:
    rows = await pool.fetch(
        """SELECT prefix, role, name, created_at, revoked_at, last_used_at
           FROM api_keys ORDER BY id"""
    )
    return {"items": [dict(r) for r in rows], "next_cursor": None}


@router.post("/v1/api-keys", status_code=201, summary="Create a key (shown once)")
async def new_key(who: Admin, pool: Pool, body: KeyRequest) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        key, prefix = await create_key(conn, Role(body.role), body.name)
        await audit.record(conn, who, "api_key.create", "api_key", prefix, None, body.model_dump())
    return {"key": key, "prefix": prefix, "role": body.role, "name": body.name}


@router.delete("/v1/api-keys/{prefix}", status_code=204, summary="Revoke a key")
async def revoke(
    who: Admin, pool: Pool, prefix: Annotated[str, Path(pattern=r"^tk_[0-9a-f]{8}$")]
) -> Response:
    async with pool.acquire() as conn, conn.transaction():
        done = await conn.fetchval(
            "UPDATE api_keys SET revoked_at = now() WHERE prefix = $1 AND revoked_at IS NULL"
            " RETURNING id",
            prefix,
        )
        if done is None:
            raise NotFound(f"no active key {prefix}")
        await audit.record(conn, who, "api_key.revoke", "api_key", prefix)
    return Response(status_code=204)


@router.get("/v1/audit-log", summary="Who changed what, newest first")
async def audit_log(
    _: Reader,
    pool: Pool,
    object_type: Annotated[str | None, Query(max_length=64)] = None,
    object_id: Annotated[str | None, Query(max_length=128)] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[int | None, Query(ge=1, le=2**62, description="last id seen")] = None,
) -> dict[str, Any]:
    rows = await pool.fetch(
        """SELECT id, at, actor, role, action, object_type, object_id, before, after
           FROM audit_log
           WHERE ($1::text IS NULL OR object_type = $1) AND ($2::text IS NULL OR object_id = $2)
             AND ($3::text IS NULL OR actor = $3) AND ($4::bigint IS NULL OR id < $4)
           ORDER BY id DESC LIMIT $5""",
        object_type,
        object_id,
        actor,
        cursor,
        limit,
    )
    items = [dict(r) for r in rows]
    return {"items": items, "next_cursor": str(items[-1]["id"]) if len(items) == limit else None}


VoucherCode = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{4,64}$")]


@router.get("/v1/vouchers", summary="Vouchers")
async def list_vouchers(_: Reader, pool: Pool) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return {"items": await vouchers.list_all(conn), "next_cursor": None}


@router.post("/v1/vouchers", status_code=201, summary="Create a voucher")
async def create_voucher(who: Admin, pool: Pool, body: VoucherNew) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await vouchers.create(conn, who, body)


@router.get("/v1/vouchers/{code}", summary="One voucher and how often it was used")
async def get_voucher(_: Reader, pool: Pool, code: VoucherCode) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await vouchers.get(conn, code)


@router.delete("/v1/vouchers/{code}", status_code=204, summary="Delete an unused voucher")
async def delete_voucher(who: Admin, pool: Pool, code: VoucherCode) -> Response:
    async with pool.acquire() as conn:
        await vouchers.delete(conn, who, code)
    return Response(status_code=204)


CouponCode = Annotated[str, Path(pattern=coupons.CODE_PATTERN)]


@router.get("/v1/coupons", summary="Coupons")
async def list_coupons(_: Reader, pool: Pool) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return {"items": await coupons.list_all(conn), "next_cursor": None}


@router.post("/v1/coupons", status_code=201, summary="Create a coupon")
async def create_coupon(who: Admin, pool: Pool, body: CouponNew) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await coupons.create(conn, who, body)


@router.get("/v1/coupons/{code}", summary="One coupon and how often it was used")
async def get_coupon(_: Reader, pool: Pool, code: CouponCode) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await coupons.get(conn, code)


@router.delete("/v1/coupons/{code}", status_code=204, summary="Delete an unused coupon")
async def delete_coupon(who: Admin, pool: Pool, code: CouponCode) -> Response:
    async with pool.acquire() as conn:
        await coupons.delete(conn, who, code)
    return Response(status_code=204)
