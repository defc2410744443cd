"""/v1/customers/{id}/selfcare-user and /v1/selfcare/login: the customer's own login."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import HTTPException, Path, Response

from admin_api import selfcare
from admin_api.answers.customers import IssuedToken, SelfcareUser
from admin_api.auth import Admin, Operator, Reader
from admin_api.routes.answering import router as new_router
from admin_api.routes.deps import Pool
from admin_api.schemas import Login, PasswordReset, SelfcareNew, SelfcarePatch, TokenBody

router = new_router(tags=["self-care"])

CustomerId = Annotated[int, Path(ge=1, le=2**62)]
BASE = "/v1/customers/{customer_id}/selfcare-user"


@router.get(BASE, response_model=SelfcareUser, summary="The customer's self-care user")
async def get(_: Reader, pool: Pool, customer_id: CustomerId) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await selfcare.get(conn, customer_id)


@router.post(
    BASE, status_code=201, response_model=SelfcareUser, summary="Create the self-care user"
)
async def create(
    who: Admin, pool: Pool, customer_id: CustomerId, body: SelfcareNew
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await selfcare.create(conn, who, customer_id, body.email, body.password)


@router.patch(
    BASE, response_model=SelfcareUser, summary="Change e-mail, password, or enable/disable"
)
async def patch(
    who: Admin, pool: Pool, customer_id: CustomerId, body: SelfcarePatch
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await selfcare.update(
            conn, who, customer_id, email=body.email, enabled=body.enabled, password=body.password
        )


@router.delete(BASE, status_code=204, summary="Delete the self-care user")
async def delete(who: Admin, pool: Pool, customer_id: CustomerId) -> Response:
    async with pool.acquire() as conn:
        await selfcare.delete(conn, who, customer_id)
    return Response(status_code=204)


@router.post(
    f"{BASE}/verification",
    response_model=IssuedToken,
    summary="E-mail a verification token to the self-care user",
)
async def verification(who: Operator, pool: Pool, customer_id: CustomerId) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await selfcare.issue_token(conn, who, customer_id, "verification")


@router.post(
    f"{BASE}/verify",
    response_model=SelfcareUser,
    summary="Verify the e-mail address with its token",
)
async def verify(
    who: Operator, pool: Pool, customer_id: CustomerId, body: TokenBody
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await selfcare.verify_email(conn, who, customer_id, body.token)


@router.post(
    f"{BASE}/password-reset",
    response_model=IssuedToken,
    summary="E-mail a password-reset token to the self-care user",
)
async def reset_token(who: Operator, pool: Pool, customer_id: CustomerId) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await selfcare.issue_token(conn, who, customer_id, "reset")


@router.post(
    f"{BASE}/password-reset/confirm",
    response_model=SelfcareUser,
    summary="Set a new password with the token",
)
async def reset(
    who: Operator, pool: Pool, customer_id: CustomerId, body: PasswordReset
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await selfcare.reset_password(conn, who, customer_id, body.token, body.password)


@router.post(
    "/v1/selfcare/login",
    response_model=SelfcareUser,
    summary="Check a self-care login (for the portal)",
)
async def login(_: Operator, pool: Pool, body: Login) -> dict[str, Any]:
    """The portal's back end calls this with its operator key; 401 for any wrong or disabled
    login, without saying which."""
    async with pool.acquire() as conn:
        user = await selfcare.check_login(conn, body.email, body.password)
    if user is None:
        raise HTTPException(401, "Wrong e-mail or password")
    return user
