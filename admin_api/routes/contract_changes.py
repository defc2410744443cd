"""/v1/contract-changes: changes of bought products at a date (applied by the contract-change
job)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Path, Query

from admin_api import contract_changes
from admin_api.answers.subscriptions import ContractChange
from admin_api.auth import Admin, Reader
from admin_api.paging import Page, Paging, paging
from admin_api.routes.answering import router as new_router
from admin_api.routes.deps import Pool
from admin_api.schemas import ContractChangeNew

router = new_router(prefix="/v1/contract-changes", tags=["contract changes"])

ChangeId = Annotated[int, Path(ge=1, le=2**62)]
Status = Literal["scheduled", "done", "failed", "cancelled"]


@router.get("", response_model=Page[ContractChange], summary="Contract change requests")
async def list_changes(
    _: Reader,
    pool: Pool,
    page: Annotated[Paging, Depends(paging)],
    status: Annotated[Status | None, Query()] = None,
    customer_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    purchase_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> dict[str, Any]:
    """Oldest first; filters `status`, `customer_id`, `purchase_id`."""
    async with pool.acquire() as conn:
        items, cursor = await contract_changes.page(
            conn, page, status=status, customer_id=customer_id, purchase_id=purchase_id
        )
    return {"items": items, "next_cursor": cursor}


@router.post(
    "", status_code=201, response_model=ContractChange, summary="Request a contract change"
)
async def create(who: Admin, pool: Pool, body: ContractChangeNew) -> dict[str, Any]:
    """A product's quantity, unit price, product or termination at a future `effective_at`
    (`kind` says which; its one field goes with it). Applied by the contract-change job when
    due; a termination shows at once as the product's `ends_at`. A retry with the same
    `request_id` answers the change it made."""
    async with pool.acquire() as conn:
        return await contract_changes.create(conn, who, body)


@router.get("/{change_id}", response_model=ContractChange, summary="A contract change request")
async def get(_: Reader, pool: Pool, change_id: ChangeId) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await contract_changes.get(conn, change_id)


@router.post(
    "/{change_id}/cancel", response_model=ContractChange, summary="Cancel a scheduled change"
)
async def cancel(who: Admin, pool: Pool, change_id: ChangeId) -> dict[str, Any]:
    """Only a scheduled change (one done, failed or cancelled: 409)."""
    async with pool.acquire() as conn:
        return await contract_changes.cancel(conn, who, change_id)
