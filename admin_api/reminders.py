"""Collections in the admin API: reminder terms and their levels, automations and their ordered
actions, Start (a queued run of the `collections` job), the run log, reminders, a billing
profile's terms and language, invoices on hold. The work itself is the batch's
(`tarif_billing.reminders`); this module only keeps what it reads.

Every change is one transaction with its audit record; bad input is refused before anything
is written (422 naming the field; 404 for what does not exist; 409 for a state that forbids it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg

from admin_api import audit
from admin_api.auth import Principal
from admin_api.paging import MAX_ID, Keyset, Listed, Paging
from admin_api.reminder_schemas import (
    ActionNew,
    ActionPatch,
    AutomationNew,
    AutomationPatch,
    HoldPut,
    LevelPut,
    Move,
    ProfileTermsPut,
    TermsNew,
    TermsPatch,
    checked_options,
)
from tarif_billing.reminders.cadence import Cadence, first_run
from tarif_common.errors import Conflict, InvalidRequest, NotFound
from tarif_jobs.criteria import Criteria
from tarif_jobs.queue import enqueue_run
from tarif_postgres import queries

R = queries.load("reminders")

TERMS = Keyset("reminder-terms", "code", "")
AUTOMATIONS = Keyset("reminder-automations", "id", 0)
RUNS = Keyset("reminder-runs", "id", MAX_ID)  # newest first
REMINDERS = Keyset("reminders", "id", MAX_ID)  # newest first


# -- terms and levels -------------------------------------------------------------------------


async def list_terms(conn: asyncpg.Connection, page: Paging) -> Listed:
    rows = await conn.fetch(R.terms_page, TERMS.after(page), page.limit)
    items, cursor = TERMS.page(rows, page)
    levels = await _levels(conn, [i["code"] for i in items])
    return [i | {"levels": levels.get(i["code"], [])} for i in items], cursor


async def get_terms(conn: asyncpg.Connection, code: str) -> dict[str, Any]:
    row = await conn.fetchrow(R.terms_by_code, code)
    if row is None:
        raise NotFound(f"no reminder terms {code!r}")
    levels = await _levels(conn, [code])
    return dict(row) | {"levels": levels.get(code, [])}


async def _levels(conn: asyncpg.Connection, codes: list[str]) -> dict[str, list[dict[str, Any]]]:
    texts: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for t in await conn.fetch(R.texts_of, codes):
        texts.setdefault((t["terms_code"], t["level"]), []).append(
            {k: t[k] for k in ("language", "subject", "beginning_text", "ending_text")}
        )
    out: dict[str, list[dict[str, Any]]] = {}
    for r in await conn.fetch(R.levels_of, codes):
        level = dict(r)
        code = level.pop("terms_code")
        out.setdefault(code, []).append(level | {"texts": texts.get((code, r["level"]), [])})
    return out


async def create_terms(conn: asyncpg.Connection, who: Principal, body: TermsNew) -> dict[str, Any]:
    async with conn.transaction():
        made = await conn.fetchval(
            R.insert_terms, body.code, body.description, body.max_reminders, body.default_language
        )
        if made is None:
            raise Conflict(f"reminder terms {body.code!r} exist already")
        await audit.record(
            conn, who, "reminder_terms.create", "reminder_terms", body.code, None, body.model_dump()
        )
    return await get_terms(conn, body.code)


async def update_terms(
    conn: asyncpg.Connection, who: Principal, code: str, body: TermsPatch
) -> dict[str, Any]:
    async with conn.transaction():
        before = await _locked_terms(conn, code)
        after = before | body.model_dump(exclude_none=True)
        await conn.execute(
            R.update_terms, code, after["description"], after["max_reminders"],
            after["default_language"],
        )  # fmt: skip
        await audit.record(
            conn, who, "reminder_terms.update", "reminder_terms", code, before, after
        )
    return await get_terms(conn, code)


async def delete_terms(conn: asyncpg.Connection, who: Principal, code: str) -> None:
    """409 while reminders, billing profiles or automations use the terms."""
    async with conn.transaction():
        before = await _locked_terms(conn, code)
        used_by = await conn.fetchval(R.terms_in_use, code)
        if used_by is not None:
            raise Conflict(f"reminder terms {code!r} are used by {used_by}")
        await conn.execute(R.delete_terms, code)
        await audit.record(conn, who, "reminder_terms.delete", "reminder_terms", code, before)


async def put_level(
    conn: asyncpg.Connection, who: Principal, code: str, level: int, body: LevelPut
) -> dict[str, Any]:
    """Create or replace level `level` of the terms. Levels are numbered 1..n without gaps: a
    new level must be n + 1 (422 otherwise)."""
    async with conn.transaction():
        await _locked_terms(conn, code)
        count = await conn.fetchval(R.level_count, code)
        if level > count + 1:
            raise InvalidRequest(
                "path.level", f"the terms have {count} levels: the next one is {count + 1}"
            )
        if body.fee_tax is not None and not await conn.fetchval(R.tax_exists, body.fee_tax):
            raise InvalidRequest("body.fee_tax", f"no tax {body.fee_tax!r}")
        before = (await _levels(conn, [code])).get(code, [])
        await conn.execute(
            R.put_level, code, level, body.grace_period, body.due_date_formula,
            body.fee_amount, body.fee_currency, body.fee_tax,
        )  # fmt: skip
        await conn.execute(R.delete_level_texts, code, level)
        if body.texts:
            await conn.execute(
                R.insert_level_texts, code, level,
                [t.language for t in body.texts], [t.subject for t in body.texts],
                [t.beginning_text for t in body.texts], [t.ending_text for t in body.texts],
            )  # fmt: skip
        await conn.execute(R.touch_terms, code)
        old = next((x for x in before if x["level"] == level), None)
        await audit.record(
            conn, who, "reminder_level.put", "reminder_terms", f"{code}/{level}", old,
            body.model_dump(),
        )  # fmt: skip
    return await get_terms(conn, code)


async def delete_level(
    conn: asyncpg.Connection, who: Principal, code: str, level: int
) -> dict[str, Any]:
    """Only the last level may go (the others would leave a gap): 409 otherwise."""
    async with conn.transaction():
        await _locked_terms(conn, code)
        count = await conn.fetchval(R.level_count, code)
        if level < 1 or level > count:
            raise NotFound(f"reminder terms {code!r} have no level {level}")
        if level != count:
            raise Conflict(f"only the last level ({count}) can be deleted: levels have no gaps")
        before = (await _levels(conn, [code])).get(code, [])[-1]
        await conn.execute(R.delete_level, code, level)
        await conn.execute(R.touch_terms, code)
        await audit.record(
            conn, who, "reminder_level.delete", "reminder_terms", f"{code}/{level}", before
        )
    return await get_terms(conn, code)


async def _locked_terms(conn: asyncpg.Connection, code: str) -> dict[str, Any]:
    row = await conn.fetchrow(R.lock_terms, code)
    if row is None:
        raise NotFound(f"no reminder terms {code!r}")
    return dict(row)


# -- automations and actions ------------------------------------------------------------------


async def list_automations(conn: asyncpg.Connection, page: Paging) -> Listed:
    rows = await conn.fetch(R.automations_page, AUTOMATIONS.after(page), page.limit)
    items, cursor = AUTOMATIONS.page(rows, page)
    return [await get_automation(conn, i["id"]) for i in items], cursor


async def get_automation(conn: asyncpg.Connection, automation_id: int) -> dict[str, Any]:
    row = await conn.fetchrow(R.automation_by_id, automation_id)
    if row is None:
        raise NotFound(f"no reminder automation {automation_id}")
    actions = [dict(a) for a in await conn.fetch(R.actions_of, automation_id)]
    for a in actions:
        a.pop("automation_id")
    a = dict(row)
    return {
        "id": a["id"],
        "name": a["name"],
        "description": a["description"],
        "terms": list(a["terms"]),
        "criteria": a["criteria"],
        "cadence": {
            "kind": a["cadence"],
            "formula": a["formula"],
            "starts_at": a["starts_at"],
            "time_zone": a["time_zone"],
        },
        "active": a["active"],
        "next_run_at": a["next_run_at"],
        "last_run_at": a["last_run_at"],
        "actions": actions,
        "created_at": a["created_at"],
        "updated_at": a["updated_at"],
    }


async def create_automation(
    conn: asyncpg.Connection, who: Principal, body: AutomationNew
) -> dict[str, Any]:
    async with conn.transaction():
        await _check_terms(conn, body.terms, "body.terms")
        await _check_criteria(conn, body.criteria, "body.criteria")
        for n, action in enumerate(body.actions):
            await _check_criteria(
                conn, Criteria.model_validate(action.options["criteria"]),
                f"body.actions.{n}.options.criteria",
            )  # fmt: skip
        c = body.cadence
        automation_id = await conn.fetchval(
            R.insert_automation, body.name, body.description, body.criteria.model_dump(),
            c.kind, c.formula, c.starts_at, c.time_zone, body.active,
            first_run(c),
        )  # fmt: skip
        if automation_id is None:
            raise Conflict(f"an automation is named {body.name!r} already")
        if body.terms:
            await conn.execute(R.insert_automation_terms, automation_id, body.terms)
        for action in body.actions:
            await conn.fetchval(
                R.insert_action, automation_id, action.kind, action.description,
                action.options, action.stop_on_error,
            )  # fmt: skip
        answer = await get_automation(conn, automation_id)
        await audit.record(
            conn, who, "reminder_automation.create", "reminder_automation", str(automation_id),
            None, answer,
        )  # fmt: skip
    return answer


async def update_automation(
    conn: asyncpg.Connection, who: Principal, automation_id: int, body: AutomationPatch
) -> dict[str, Any]:
    """A new cadence sets the next run to its first run; pausing (`active: false`) keeps the
    next run, and a paused automation whose run came meanwhile runs once at the next
    collections run after it is resumed."""
    async with conn.transaction():
        row = await _locked_automation(conn, automation_id)
        before = await get_automation(conn, automation_id)
        name = body.name if body.name is not None else row["name"]
        if body.name is not None and await conn.fetchval(R.name_taken, name, automation_id):
            raise Conflict(f"an automation is named {name!r} already")
        if body.terms is not None:
            await _check_terms(conn, body.terms, "body.terms")
        criteria = row["criteria"]
        if body.criteria is not None:
            await _check_criteria(conn, body.criteria, "body.criteria")
            criteria = body.criteria.model_dump()
        next_run = row["next_run_at"]
        cadence = Cadence(
            kind=row["cadence"], formula=row["formula"], starts_at=row["starts_at"],
            time_zone=row["time_zone"],
        )  # fmt: skip
        if body.cadence is not None:
            cadence = body.cadence
            next_run = first_run(cadence)
        await conn.execute(
            R.update_automation, automation_id, name,
            body.description if body.description is not None else row["description"],
            criteria, cadence.kind, cadence.formula, cadence.starts_at, cadence.time_zone,
            body.active if body.active is not None else row["active"], next_run,
        )  # fmt: skip
        if body.terms is not None:
            await conn.execute(R.clear_automation_terms, automation_id)
            if body.terms:
                await conn.execute(R.insert_automation_terms, automation_id, body.terms)
        answer = await get_automation(conn, automation_id)
        await audit.record(
            conn, who, "reminder_automation.update", "reminder_automation", str(automation_id),
            before, answer,
        )  # fmt: skip
    return answer


async def delete_automation(conn: asyncpg.Connection, who: Principal, automation_id: int) -> None:
    async with conn.transaction():
        await _locked_automation(conn, automation_id)
        before = await get_automation(conn, automation_id)
        await conn.execute(R.delete_automation, automation_id)
        await audit.record(
            conn, who, "reminder_automation.delete", "reminder_automation", str(automation_id),
            before,
        )  # fmt: skip


async def add_action(
    conn: asyncpg.Connection, who: Principal, automation_id: int, body: ActionNew
) -> dict[str, Any]:
    """The action goes last; move it up to run it earlier."""
    async with conn.transaction():
        await _locked_automation(conn, automation_id)
        await _check_criteria(
            conn, Criteria.model_validate(body.options["criteria"]), "body.options.criteria"
        )
        action_id = await conn.fetchval(
            R.insert_action, automation_id, body.kind, body.description, body.options,
            body.stop_on_error,
        )  # fmt: skip
        await audit.record(
            conn, who, "reminder_action.create", "reminder_automation", str(automation_id),
            None, {"action_id": action_id, **body.model_dump()},
        )  # fmt: skip
        return await get_automation(conn, automation_id)


async def update_action(
    conn: asyncpg.Connection, who: Principal, automation_id: int, action_id: int, body: ActionPatch
) -> dict[str, Any]:
    async with conn.transaction():
        await _locked_automation(conn, automation_id)
        action = await _action(conn, automation_id, action_id)
        options = action["options"]
        if body.options is not None:
            try:
                options = checked_options(action["kind"], body.options)
            except ValueError as exc:
                raise InvalidRequest("body.options", str(exc)) from None
            await _check_criteria(
                conn, Criteria.model_validate(options["criteria"]), "body.options.criteria"
            )
        after = {
            "description": body.description
            if body.description is not None
            else action["description"],
            "options": options,
            "stop_on_error": body.stop_on_error
            if body.stop_on_error is not None
            else action["stop_on_error"],
        }
        await conn.execute(
            R.update_action, action_id, after["description"], after["options"],
            after["stop_on_error"],
        )  # fmt: skip
        await audit.record(
            conn, who, "reminder_action.update", "reminder_automation", str(automation_id),
            dict(action), {"id": action_id, **after},
        )  # fmt: skip
        return await get_automation(conn, automation_id)


async def delete_action(
    conn: asyncpg.Connection, who: Principal, automation_id: int, action_id: int
) -> dict[str, Any]:
    async with conn.transaction():
        await _locked_automation(conn, automation_id)
        action = await _action(conn, automation_id, action_id)
        await conn.execute(R.delete_action, automation_id, action_id)
        await audit.record(
            conn, who, "reminder_action.delete", "reminder_automation", str(automation_id),
            dict(action),
        )  # fmt: skip
        return await get_automation(conn, automation_id)


async def move_action(
    conn: asyncpg.Connection, who: Principal, automation_id: int, action_id: int, way: Move
) -> dict[str, Any]:
    """Swap the action with the one before (up) or after (down); 409 at the top or bottom."""
    async with conn.transaction():
        await _locked_automation(conn, automation_id)
        action = await _action(conn, automation_id, action_id)
        count = len(await conn.fetch(R.actions_of, automation_id))
        position = action["position"]
        other = position - 1 if way == "up" else position + 1
        if other < 1 or other > count:
            edge = "first" if way == "up" else "last"
            raise Conflict(f"action {action_id} is the {edge} one: it cannot move {way}")
        await conn.execute(R.swap_actions, automation_id, position, other)
        await audit.record(
            conn, who, f"reminder_action.move_{way}", "reminder_automation", str(automation_id),
            {"id": action_id, "position": position}, {"id": action_id, "position": other},
        )  # fmt: skip
        return await get_automation(conn, automation_id)


async def _locked_automation(conn: asyncpg.Connection, automation_id: int) -> Mapping[str, Any]:
    row: Mapping[str, Any] | None = await conn.fetchrow(R.lock_automation, automation_id)
    if row is None:
        raise NotFound(f"no reminder automation {automation_id}")
    return row


async def _action(conn: asyncpg.Connection, automation_id: int, action_id: int) -> dict[str, Any]:
    row = await conn.fetchrow(R.action_of, automation_id, action_id)
    if row is None:
        raise NotFound(f"automation {automation_id} has no action {action_id}")
    return dict(row)


async def _check_terms(conn: asyncpg.Connection, codes: list[str], field: str) -> None:
    missing = [r["code"] for r in await conn.fetch(R.missing_terms, codes)]
    if missing:
        raise InvalidRequest(field, f"unknown reminder terms: {', '.join(missing)}")


async def _check_criteria(conn: asyncpg.Connection, criteria: Criteria, field: str) -> None:
    """Customer types and custom attributes a criteria names must exist (422 naming them)."""
    types = [r["name"] for r in await conn.fetch(R.missing_customer_types, criteria.customer_types)]
    if types:
        raise InvalidRequest(
            f"{field}.customer_types", f"unknown customer types: {', '.join(types)}"
        )
    names = list(criteria.attributes)
    attributes = [r["name"] for r in await conn.fetch(R.missing_attributes, names)]
    if attributes:
        raise InvalidRequest(
            f"{field}.attributes", f"unknown custom attributes: {', '.join(attributes)}"
        )


# -- Start and the run log --------------------------------------------------------------------


async def start(
    conn: asyncpg.Connection, who: Principal, automation_id: int, process_now: datetime | None
) -> dict[str, Any]:
    """Queue a run of the `collections` job for this automation now, whatever its cadence (the
    seed's Start); the batch's workers run it. A chosen "process now" is refused in production:
    the caller checks it with `tarif_jobs.process_now` first (a 403)."""
    at = process_now or datetime.now(UTC)
    async with conn.transaction():
        row = await _locked_automation(conn, automation_id)
        criteria = {"automations": [automation_id], "start": True}
        run = await conn.fetchrow(
            R.insert_start_run, f"reminder automation {row['name']}", at, criteria, who.actor
        )
        await enqueue_run(conn, run["id"])
        await audit.record(
            conn, who, "reminder_automation.start", "reminder_automation", str(automation_id),
            None, {"job_run_id": run["id"], "process_now": at},
        )  # fmt: skip
    return {
        "automation_id": automation_id,
        "job_run_id": run["id"],
        "status": run["status"],
        "process_now": run["process_now"],
    }


async def list_runs(conn: asyncpg.Connection, automation_id: int, page: Paging) -> Listed:
    if await conn.fetchrow(R.automation_by_id, automation_id) is None:
        raise NotFound(f"no reminder automation {automation_id}")
    rows = await conn.fetch(R.runs_page, automation_id, RUNS.after(page), page.limit)
    return RUNS.page(rows, page)


# -- reminders ---------------------------------------------------------------------------------

REMINDER_FILTERS = ("customer_id", "billing_profile_id", "level", "status", "terms")


async def list_reminders(
    conn: asyncpg.Connection, filters: Mapping[str, Any], page: Paging
) -> Listed:
    rows = await conn.fetch(
        R.reminders_page, *(filters.get(f) for f in REMINDER_FILTERS), REMINDERS.after(page),
        page.limit,
    )  # fmt: skip
    return REMINDERS.page(rows, page)


async def get_reminder(conn: asyncpg.Connection, reminder_id: int) -> dict[str, Any]:
    row = await conn.fetchrow(R.reminder_answer, reminder_id)
    if row is None:
        raise NotFound(f"no reminder {reminder_id}")
    lines = [dict(r) for r in await conn.fetch(R.lines_of, reminder_id)]
    return dict(row) | {"lines": lines}


async def cancel_reminder(
    conn: asyncpg.Connection, who: Principal, reminder_id: int
) -> dict[str, Any]:
    """Only a draft can be cancelled (an issued reminder has posted its fee): 409 otherwise."""
    async with conn.transaction():
        before = await get_reminder(conn, reminder_id)
        cancelled = await conn.fetchval(
            R.cancel_draft, reminder_id, datetime.now(UTC), f"cancelled by {who.actor}"
        )
        if cancelled is None:
            raise Conflict(
                f"reminder {reminder_id} is {before['status']}: only a draft can be cancelled"
            )
        await audit.record(
            conn, who, "reminder.cancel", "reminder", str(reminder_id),
            {"status": before["status"]}, {"status": "cancelled"},
        )  # fmt: skip
    return await get_reminder(conn, reminder_id)


# -- a billing profile's terms, invoices on hold ---------------------------------------------


async def set_profile_terms(
    conn: asyncpg.Connection, who: Principal, profile_id: int, body: ProfileTermsPut
) -> dict[str, Any]:
    async with conn.transaction():
        row = await conn.fetchrow(R.lock_profile_terms, profile_id)
        if row is None:
            raise NotFound(f"no billing profile {profile_id}")
        if body.terms is not None:
            await _check_terms(conn, [body.terms], "body.terms")
        await conn.execute(R.set_profile_terms, profile_id, body.terms, body.language)
        before = {"terms": row["reminder_terms"], "language": row["language"]}
        after = {"terms": body.terms, "language": body.language}
        await audit.record(
            conn, who, "billing_profile.reminder_terms", "billing_profile", str(profile_id),
            before, after,
        )  # fmt: skip
    return {"billing_profile_id": profile_id, **after}


async def hold_invoice(
    conn: asyncpg.Connection, who: Principal, invoice_id: int, body: HoldPut
) -> dict[str, Any]:
    """Put an issued invoice on hold (disputed): reminders leave it out unless a create action
    includes invoices on hold. 409 for a credit note or an invoice that is not issued."""
    async with conn.transaction():
        invoice = await conn.fetchrow(R.invoice_to_hold, invoice_id)
        if invoice is None:
            raise NotFound(f"no invoice {invoice_id}")
        if invoice["kind"] != "invoice" or invoice["number"] is None:
            raise Conflict(f"invoice {invoice_id} is not an issued invoice")
        hold = dict(await conn.fetchrow(R.put_hold, invoice_id, body.reason, who.actor))
        await audit.record(
            conn, who, "invoice.reminder_hold", "invoice", str(invoice_id), None, hold
        )
    return hold


async def release_invoice(conn: asyncpg.Connection, who: Principal, invoice_id: int) -> None:
    async with conn.transaction():
        gone = await conn.fetchrow(R.delete_hold, invoice_id)
        if gone is None:
            raise NotFound(f"invoice {invoice_id} is not on hold")
        await audit.record(
            conn, who, "invoice.reminder_release", "invoice", str(invoice_id), dict(gone)
        )
