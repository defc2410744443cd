"""/v1/invoices: invoices and credit notes (a credit note is an invoice of kind `credit_note`):
the list and its CSV export, one with its lines, its document, a failed one made again.

Roles: auditors read; operators make a failed invoice again.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from admin_api import invoices
from admin_api.answers.billing import Invoice
from admin_api.auth import Operator, Reader
from admin_api.paging import Page, Paging, paging
from admin_api.routes.answering import router as new_router
from admin_api.routes.deps import Pool

router = new_router(prefix="/v1/invoices", tags=["invoices"])

InvoiceId = Annotated[int, Path(ge=1, le=2**62)]
Paged = Annotated[Paging, Depends(paging)]
AnId = Annotated[int | None, Query(ge=1, le=2**62)]


async def filters(
    billing_profile_id: AnId = None,
    customer_id: AnId = None,
    status: Annotated[str | None, Query(pattern=r"^(failed|billing|closed)$")] = None,
    kind: Annotated[str | None, Query(pattern=r"^(invoice|credit_note)$")] = None,
    issued_from: Annotated[date | None, Query(description="issue date, inclusive")] = None,
    issued_to: Annotated[date | None, Query(description="issue date, inclusive")] = None,
) -> dict[str, Any]:
    """`status`: `billing` (issued, due), `closed` (nothing due), `failed` (not issued)."""
    return {
        "billing_profile_id": billing_profile_id,
        "customer_id": customer_id,
        "status": status,
        "kind": kind,
        "issued_from": issued_from,
        "issued_to": issued_to,
    }


Filters = Annotated[dict[str, Any], Depends(filters)]


@router.get("", response_model=Page[Invoice], summary="Invoices and credit notes, newest first")
async def list_invoices(_: Reader, pool: Pool, found: Filters, page: Paged) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await invoices.list_invoices(conn, found, page)
    return {"items": items, "next_cursor": cursor}


@router.get(
    "/export",
    summary="Invoices and credit notes as CSV (same filters as the list)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
async def export(_: Reader, pool: Pool, found: Filters) -> StreamingResponse:
    """One row per invoice, newest first, amounts as exact decimals."""
    invoices.check_filters(found)  # 422 before the stream starts
    return StreamingResponse(
        invoices.export_csv(pool, found),
        media_type="text/csv",
        headers={"content-disposition": 'attachment; filename="invoices.csv"'},
    )


@router.get("/{invoice_id}", response_model=Invoice, summary="An invoice with its lines and VAT")
async def get_invoice(_: Reader, pool: Pool, invoice_id: InvoiceId) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await invoices.get_invoice(conn, invoice_id)


@router.get(
    "/{invoice_id}/document",
    summary="The invoice's document: JSON, HTML, PDF, Factur-X, UBL or CII",
    response_class=Response,
    responses={
        200: {
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/InvoiceDocument"}},
                "text/html": {},
                "application/pdf": {},
                "application/xml": {},
            },
            "description": "the document in the asked format",
        }
    },
)
async def document(
    _: Reader,
    pool: Pool,
    request: Request,
    invoice_id: InvoiceId,
    format: Annotated[
        str,
        Query(
            pattern=r"^(json|html|pdf|facturx|ubl|cii)$",
            description="facturx: PDF/A-3 with the EN 16931 CII XML inside; ubl: UBL 2.1 XML;"
            " cii: the EN 16931 CII XML alone",
        ),
    ] = "json",
) -> Response:
    """Rendered from the issued invoice as stored (the same bytes every time); a failed
    invoice has none (409). A credit note is rendered as one. `json` is the API's JSON of the
    document (as the invoice preview answers it)."""
    async with pool.acquire() as conn:
        content, media_type = await invoices.document_bytes(
            conn, request.app.state.settings, invoice_id, format
        )
    extension = {"facturx": "pdf", "ubl": "xml", "cii": "xml"}.get(format, format)
    filename = f"invoice-{invoice_id}.{extension}"
    return Response(
        content,
        media_type=media_type,
        headers={"content-disposition": f'inline; filename="{filename}"'},
    )


@router.post(
    "/{invoice_id}/regenerate",
    response_model=Invoice,
    summary="Make a failed invoice again",
)
async def regenerate(
    who: Operator, pool: Pool, request: Request, invoice_id: InvoiceId
) -> dict[str, Any]:
    """From its bill's items and today's reference data (fix the tax, the seller, the buyer
    first): issued now with its number, or still `failed` with the new `error`. 409 if the
    invoice is not failed."""
    async with pool.acquire() as conn:
        return await invoices.regenerate(conn, request.app.state.settings, who, invoice_id)
