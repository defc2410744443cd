"""/v1/financial-reports: the reports the financial reporting job stored, as JSON or CSV.

Roles: every role reads.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Path, Query
from fastapi.responses import Response

from admin_api import reports
from admin_api.answers.reports import FinancialReport, FinancialReportWithLines
from admin_api.auth import Reader
from admin_api.paging import Page, Paging, paging
from admin_api.routes.answering import router as new_router
from admin_api.routes.deps import Pool

router = new_router(prefix="/v1/financial-reports", tags=["financial reports"])

ReportId = Annotated[int, Path(ge=1, le=2**62)]
Paged = Annotated[Paging, Depends(paging)]
Dimension = Annotated[
    str | None,
    Query(pattern=r"^(account|ledger|ledger_group|revenue_type|account_type|total)$"),
]


@router.get("", response_model=Page[FinancialReport], summary="Financial reports, newest first")
async def list_reports(
    _: Reader,
    pool: Pool,
    page: Paged,
    kind: Annotated[str | None, Query(pattern=r"^(journal|revenue_recognition)$")] = None,
    period_from: Annotated[date | None, Query(description="periods ending after it")] = None,
    period_to: Annotated[date | None, Query(description="periods starting before it")] = None,
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await reports.list_reports(
            conn, page, kind=kind, period_from=period_from, period_to=period_to
        )
    return {"items": items, "next_cursor": cursor}


@router.get(
    "/{report_id}",
    response_model=FinancialReportWithLines,
    summary="A financial report with its lines (JSON, or CSV with format=csv)",
    responses={200: {"content": {"text/csv": {}}}},
)
async def get_report(
    _: Reader,
    pool: Pool,
    report_id: ReportId,
    dimension: Dimension = None,
    format: Annotated[str, Query(pattern=r"^(json|csv)$")] = "json",
) -> Any:
    """Lines by account (with its ledger, group, revenue type and account type), then summed by
    ledger, ledger group, revenue type, account type and in total, per currency; `dimension`
    keeps one grouping."""
    async with pool.acquire() as conn:
        if format == "csv":
            text = await reports.report_csv(conn, report_id, dimension)
            name = f"financial-report-{report_id}.csv"
            return Response(
                text,
                media_type="text/csv",
                headers={"content-disposition": f'attachment; filename="{name}"'},
            )
        return await reports.get_report(conn, report_id, dimension)
