"""Collections: /v1/reminder-terms (and their levels), /v1/reminder-automations (their actions,
Start, runs), /v1/reminders, a billing profile's reminder terms, invoices on hold.

Roles: every read is open to auditors; admins configure terms, levels, automations and a
profile's terms; operators start an automation, cancel a draft reminder and put an invoice on
hold or take it off.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, Response

from admin_api import reminders
from admin_api.answers.reminders import (
    Automation,
    Hold,
    ProfileTerms,
    Reminder,
    Run,
    Started,
    Terms,
)
from admin_api.auth import Admin, Operator, Reader
from admin_api.paging import Page, Paging, paging
from admin_api.reminder_schemas import (
    ActionNew,
    ActionPatch,
    AutomationNew,
    AutomationPatch,
    HoldPut,
    LevelPut,
    ProfileTermsPut,
    StartNew,
    TermsNew,
    TermsPatch,
)
from admin_api.routes.answering import router as new_router
from admin_api.routes.deps import Pool
from tarif_jobs.process_now import process_now

router = new_router(tags=["collections"])

Id = Annotated[int, Path(ge=1, le=2**62)]
Code = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
LevelNo = Annotated[int, Path(ge=1, le=100)]
Paged = Annotated[Paging, Depends(paging)]
TERMS = "/v1/reminder-terms"
AUTOMATIONS = "/v1/reminder-automations"


# -- terms and levels -------------------------------------------------------------------------


@router.get(TERMS, response_model=Page[Terms], summary="Reminder terms with their levels")
async def list_terms(_: Reader, pool: Pool, page: Paged) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await reminders.list_terms(conn, page)
    return {"items": items, "next_cursor": cursor}


@router.post(TERMS, status_code=201, response_model=Terms, summary="New reminder terms")
async def create_terms(who: Admin, pool: Pool, body: TermsNew) -> dict[str, Any]:
    """409 when the code exists. Add its levels with PUT .../levels/{level}."""
    async with pool.acquire() as conn:
        return await reminders.create_terms(conn, who, body)


@router.get(TERMS + "/{code}", response_model=Terms, summary="Reminder terms")
async def get_terms(_: Reader, pool: Pool, code: Code) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await reminders.get_terms(conn, code)


@router.patch(TERMS + "/{code}", response_model=Terms, summary="Change reminder terms")
async def update_terms(who: Admin, pool: Pool, code: Code, body: TermsPatch) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await reminders.update_terms(conn, who, code, body)


@router.delete(TERMS + "/{code}", status_code=204, summary="Delete reminder terms")
async def delete_terms(who: Admin, pool: Pool, code: Code) -> Response:
    """409 while reminders, billing profiles or automations use them."""
    async with pool.acquire() as conn:
        await reminders.delete_terms(conn, who, code)
    return Response(status_code=204)


@router.put(
    TERMS + "/{code}/levels/{level}",
    response_model=Terms,
    summary="Create or replace a level (with its texts)",
)
async def put_level(
    who: Admin, pool: Pool, code: Code, level: LevelNo, body: LevelPut
) -> dict[str, Any]:
    """Levels are numbered 1..n without gaps: a new one is n + 1 (422 otherwise). Texts are
    Jinja2 templates checked against a sample reminder (422 naming a misspelt field)."""
    async with pool.acquire() as conn:
        return await reminders.put_level(conn, who, code, level, body)


@router.delete(
    TERMS + "/{code}/levels/{level}", response_model=Terms, summary="Delete the last level"
)
async def delete_level(who: Admin, pool: Pool, code: Code, level: LevelNo) -> dict[str, Any]:
    """Only the last level (409 for another: levels have no gaps)."""
    async with pool.acquire() as conn:
        return await reminders.delete_level(conn, who, code, level)


# -- automations ------------------------------------------------------------------------------


@router.get(AUTOMATIONS, response_model=Page[Automation], summary="Reminder automations")
async def list_automations(_: Reader, pool: Pool, page: Paged) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await reminders.list_automations(conn, page)
    return {"items": items, "next_cursor": cursor}


@router.post(
    AUTOMATIONS, status_code=201, response_model=Automation, summary="New reminder automation"
)
async def create_automation(who: Admin, pool: Pool, body: AutomationNew) -> dict[str, Any]:
    """With its cadence (manual, weekly, monthly or a custom date formula), its terms filter,
    customer criteria and (optionally) its actions in order. 409 for a name in use; 422 for an
    unknown term, customer type or attribute, a bad formula or bad action options."""
    async with pool.acquire() as conn:
        return await reminders.create_automation(conn, who, body)


@router.get(AUTOMATIONS + "/{automation_id}", response_model=Automation, summary="An automation")
async def get_automation(_: Reader, pool: Pool, automation_id: Id) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await reminders.get_automation(conn, automation_id)


@router.patch(
    AUTOMATIONS + "/{automation_id}", response_model=Automation, summary="Change an automation"
)
async def update_automation(
    who: Admin, pool: Pool, automation_id: Id, body: AutomationPatch
) -> dict[str, Any]:
    """`active: false` pauses it, `true` resumes it; a new cadence computes the next run."""
    async with pool.acquire() as conn:
        return await reminders.update_automation(conn, who, automation_id, body)


@router.delete(AUTOMATIONS + "/{automation_id}", status_code=204, summary="Delete an automation")
async def delete_automation(who: Admin, pool: Pool, automation_id: Id) -> Response:
    """With its actions and run log; its reminders stay."""
    async with pool.acquire() as conn:
        await reminders.delete_automation(conn, who, automation_id)
    return Response(status_code=204)


@router.post(
    AUTOMATIONS + "/{automation_id}/actions",
    status_code=201,
    response_model=Automation,
    summary="Add an action (last in the order)",
)
async def add_action(who: Admin, pool: Pool, automation_id: Id, body: ActionNew) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await reminders.add_action(conn, who, automation_id, body)


@router.patch(
    AUTOMATIONS + "/{automation_id}/actions/{action_id}",
    response_model=Automation,
    summary="Change an action's settings or stop on error",
)
async def update_action(
    who: Admin, pool: Pool, automation_id: Id, action_id: Id, body: ActionPatch
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await reminders.update_action(conn, who, automation_id, action_id, body)


@router.delete(
    AUTOMATIONS + "/{automation_id}/actions/{action_id}",
    response_model=Automation,
    summary="Remove an action",
)
async def delete_action(who: Admin, pool: Pool, automation_id: Id, action_id: Id) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await reminders.delete_action(conn, who, automation_id, action_id)


@router.post(
    AUTOMATIONS + "/{automation_id}/actions/{action_id}/move-up",
    response_model=Automation,
    summary="Run an action one step earlier",
)
async def move_up(who: Admin, pool: Pool, automation_id: Id, action_id: Id) -> dict[str, Any]:
    """409 for the first action."""
    async with pool.acquire() as conn:
        return await reminders.move_action(conn, who, automation_id, action_id, "up")


@router.post(
    AUTOMATIONS + "/{automation_id}/actions/{action_id}/move-down",
    response_model=Automation,
    summary="Run an action one step later",
)
async def move_down(who: Admin, pool: Pool, automation_id: Id, action_id: Id) -> dict[str, Any]:
    """409 for the last action."""
    async with pool.acquire() as conn:
        return await reminders.move_action(conn, who, automation_id, action_id, "down")


@router.post(
    AUTOMATIONS + "/{automation_id}/start",
    status_code=202,
    response_model=Started,
    summary="Start: run the automation now (queued for the batch)",
)
async def start(
    who: Operator, pool: Pool, request: Request, automation_id: Id, body: StartNew
) -> dict[str, Any]:
    """Queues a run of the `collections` job for this automation, whatever its cadence (a
    manual automation runs only so). `process_now` (the date it acts as of) is refused in
    production (403)."""
    process_now(request.app.state.settings, body.process_now, datetime.now(UTC))  # 403
    async with pool.acquire() as conn:
        return await reminders.start(conn, who, automation_id, body.process_now)


@router.get(
    AUTOMATIONS + "/{automation_id}/runs",
    response_model=Page[Run],
    summary="An automation's runs and what each action did, newest first",
)
async def list_runs(_: Reader, pool: Pool, automation_id: Id, page: Paged) -> dict[str, Any]:
    async with pool.acquire() as conn:
        items, cursor = await reminders.list_runs(conn, automation_id, page)
    return {"items": items, "next_cursor": cursor}


# -- reminders --------------------------------------------------------------------------------

AnId = Annotated[int | None, Query(ge=1, le=2**62)]


async def reminder_filters(
    customer_id: AnId = None,
    billing_profile_id: AnId = None,
    level: Annotated[int | None, Query(ge=1, le=100)] = None,
    status: Annotated[str | None, Query(pattern=r"^(draft|issued|sent|cancelled)$")] = None,
    terms: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.-]{1,32}$")] = None,
) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "billing_profile_id": billing_profile_id,
        "level": level,
        "status": status,
        "terms": terms,
    }


@router.get("/v1/reminders", response_model=Page[Reminder], summary="Reminders, newest first")
async def list_reminders(
    _: Reader,
    pool: Pool,
    page: Paged,
    found: Annotated[dict[str, Any], Depends(reminder_filters)],
) -> dict[str, Any]:
    """Issued reminders: `status=issued` or `sent`; drafts are `draft`."""
    async with pool.acquire() as conn:
        items, cursor = await reminders.list_reminders(conn, found, page)
    return {"items": items, "next_cursor": cursor}


@router.get(
    "/v1/reminders/{reminder_id}", response_model=Reminder, summary="A reminder with its lines"
)
async def get_reminder(_: Reader, pool: Pool, reminder_id: Id) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await reminders.get_reminder(conn, reminder_id)


@router.post(
    "/v1/reminders/{reminder_id}/cancel", response_model=Reminder, summary="Cancel a draft"
)
async def cancel_reminder(who: Operator, pool: Pool, reminder_id: Id) -> dict[str, Any]:
    """409 for a reminder that is not a draft (an issued one has posted its fee)."""
    async with pool.acquire() as conn:
        return await reminders.cancel_reminder(conn, who, reminder_id)


# -- a billing profile's terms, invoices on hold ---------------------------------------------


@router.put(
    "/v1/billing-profiles/{profile_id}/reminder-terms",
    response_model=ProfileTerms,
    summary="A billing profile's reminder terms and language",
)
async def set_profile_terms(
    who: Admin, pool: Pool, profile_id: Id, body: ProfileTermsPut
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await reminders.set_profile_terms(conn, who, profile_id, body)


@router.put(
    "/v1/invoices/{invoice_id}/reminder-hold",
    response_model=Hold,
    summary="Put an invoice on hold (left out of reminders)",
)
async def hold_invoice(who: Operator, pool: Pool, invoice_id: Id, body: HoldPut) -> dict[str, Any]:
    """A disputed invoice: create actions leave it out unless they include invoices on hold."""
    async with pool.acquire() as conn:
        return await reminders.hold_invoice(conn, who, invoice_id, body)


@router.delete(
    "/v1/invoices/{invoice_id}/reminder-hold",
    status_code=204,
    summary="Take an invoice off hold",
)
async def release_invoice(who: Operator, pool: Pool, invoice_id: Id) -> Response:
    async with pool.acquire() as conn:
        await reminders.release_invoice(conn, who, invoice_id)
    return Response(status_code=204)
