"""/v1/sepa: direct-debit collections (pain.008 files) and the bank's results; a customer's
mandates under /v1/customers/{id}/mandates."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.responses import Response

from admin_api import sepa
from admin_api.answers.sepa import Collection, CollectionDetail, Mandate, ResultsImported
from admin_api.auth import Admin, Reader
from admin_api.paging import Page, Paging, paging
from admin_api.routes.answering import router as new_router
from admin_api.routes.deps import Pool
from admin_api.schemas import SepaCollectionNew
from tarif_billing.sepa.collections import creditor_of

router = new_router(tags=["sepa"])

Paged = Annotated[Paging, Depends(paging)]
CollectionId = Annotated[int, Path(ge=1, le=2**62)]
CustomerId = Annotated[int, Path(ge=1, le=2**62)]
XML = "application/xml"


@router.post(
    "/v1/sepa/collections",
    status_code=201,
    response_model=CollectionDetail,
    summary="Collect the due invoices by direct debit on a date",
)
async def create_collection(
    who: Admin, pool: Pool, request: Request, response: Response, body: SepaCollectionNew
) -> dict[str, Any]:
    """Every issued invoice due by the date (in EUR, amount due > 0) of a customer with an
    active mandate, once: an invoice pending in another collection is not taken again. The
    pain.008.001.08 file is made and stored at once. 409: nothing is due, or the creditor
    (TARIF_SEPA_CREDITOR_*) is not configured. A retry with the same request_id answers the
    collection it made (200)."""
    creditor = creditor_of(request.app.state.settings)
    async with pool.acquire() as conn:
        found, created = await sepa.create_collection(
            conn, who, creditor, body.request_id, body.collection_date
        )
    if not created:
        response.status_code = 200
    return found


@router.get(
    "/v1/sepa/collections", response_model=Page[Collection], summary="Collections, newest first"
)
async def list_collections(_: Reader, pool: Pool, page: Paged) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await sepa.list_collections(conn, page)
    return {"items": items, "next_cursor": cursor}


@router.get(
    "/v1/sepa/collections/{collection_id}",
    response_model=CollectionDetail,
    summary="A collection with its items",
)
async def get_collection(_: Reader, pool: Pool, collection_id: CollectionId) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await sepa.get_collection(conn, collection_id)


@router.get(
    "/v1/sepa/collections/{collection_id}/file",
    summary="The collection's pain.008 file, as sent to the bank",
    response_class=Response,
    responses={200: {"content": {XML: {}}}},
)
async def collection_file(_: Reader, pool: Pool, collection_id: CollectionId) -> Response:
    async with pool.acquire() as conn:
        document = await sepa.collection_file(conn, collection_id)
    return Response(document.encode("utf-8"), media_type=XML)


@router.post(
    "/v1/sepa/collections/{collection_id}/results",
    response_model=ResultsImported,
    summary="Import the bank's results (pain.002 or camt.054)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {XML: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def import_results(
    who: Admin, pool: Pool, request: Request, collection_id: CollectionId
) -> dict[str, Any]:
    """The body is the bank's XML file. Each debit of this collection it names (by
    end-to-end id; another collection's: `unknown`) is applied once: accepted, its payment is
    recorded on the invoice and the mandate goes on with RCUR; rejected, the reason code is
    kept and the invoice stays due. The same file twice records nothing new (answers
    `already_paid` / `already_rejected`). 422: not a pain.002 or camt.054 document."""
    data = await request.body()
    async with pool.acquire() as conn:
        return await sepa.import_results(conn, who, data, collection_id)


@router.get(
    "/v1/customers/{customer_id}/mandates",
    response_model=Page[Mandate],
    summary="A customer's SEPA mandates (PUT /payment names the active one)",
)
async def list_mandates(_: Reader, pool: Pool, customer_id: CustomerId, page: Paged) -> Any:
    async with pool.acquire() as conn:
        items, cursor = await sepa.list_mandates(conn, customer_id, page)
    return {"items": items, "next_cursor": cursor}
