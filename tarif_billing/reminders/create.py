"""The create action: a draft reminder at the next level for each billing profile with an
invoice overdue at its level (rules in `levels`), in chunks of profiles locked for the chunk's
transaction, so two runs never remind the same profile at once.

Idempotent: an invoice on a draft reminder is not put on another, one draft per profile and
level at most (a unique index), and an invoice's next level needs the previous reminder issued
and its due date plus the grace period passed, which a second run as of the same time never
finds. Each created reminder counts as one item; a chunk that fails reports each of its
profiles (`billing_profile`) with the error."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, timedelta
from typing import Any

from tarif_billing.reminders.levels import OpenInvoice, Plan, TermsRules, plan_reminder
from tarif_billing.reminders.options import CreateOptions
from tarif_billing.reminders.scope import Env, Scope
from tarif_billing.reminders.terms import load_terms
from tarif_jobs.runs import ItemRef, Items
from tarif_postgres import queries
from tarif_postgres.driver import TarifConnection
from tarif_postgres.queries import arrays

R = queries.load("reminders")


async def create_reminders(
    env: Env, scope: Scope, options: CreateOptions, items: Items, automation_id: int | None
) -> None:
    async with env.pool.acquire() as conn:
        rules = await load_terms(conn)
    sql, extra = scope.compose(R.create_candidates, 7)
    # an invoice is overdue only after its due date (grace periods never go back), whatever the
    # profile's time zone: a day past "process now" in UTC bounds every zone's date
    due_before = env.process_now.astimezone(UTC).date() + timedelta(days=1)
    after = 0
    while not env.stop():
        rows: list[Mapping[str, Any]] = []
        try:
            async with env.pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(
                    sql,
                    after,
                    env.default_terms,
                    list(scope.terms),
                    scope.only_profiles,
                    env.chunk,
                    due_before,
                    *extra,
                )
                if not rows:
                    return
                made = await _create(conn, rows, rules, options, env, automation_id)
        except Exception as exc:
            if not rows:
                raise
            await items.add_total(len(rows))
            for r in rows:
                await items.failed(
                    ItemRef("billing_profile", str(r["id"])),
                    exc,
                    cause="reminders could not be created for this chunk of billing profiles",
                )
            after = rows[-1]["id"]
            continue
        after = rows[-1]["id"]
        if made:
            await items.add_total(made)
            await items.succeeded(made)


async def _create(
    conn: TarifConnection,
    profiles: list[Mapping[str, Any]],
    rules: dict[str, TermsRules],
    options: CreateOptions,
    env: Env,
    automation_id: int | None,
) -> int:
    open_invoices: dict[int, list[OpenInvoice]] = {}
    for r in await conn.fetch(R.open_invoices, [p["id"] for p in profiles]):
        if r["in_draft"]:
            continue
        open_invoices.setdefault(r["billing_profile_id"], []).append(
            OpenInvoice(
                r["id"],
                r["number"],
                r["issue_date"],
                r["due_date"],
                r["total"],
                r["amount_due"],
                on_hold=r["on_hold"],
                fee=r["fee"],
                reminded=r["reminded"],
                last_due=r["last_due"],
            )
        )
    plans: list[tuple[Mapping[str, Any], Plan]] = []
    for p in profiles:
        terms = rules.get(p["terms_code"])
        if terms is None:
            continue
        plan = plan_reminder(
            terms,
            open_invoices.get(p["id"], []),
            env.today(p["time_zone"]),
            highest_level_on_all_lines=options.highest_level_on_all_lines,
            include_on_hold=options.include_on_hold,
            all_unpaid=options.all_unpaid,
        )
        if plan is not None:
            plans.append((p, plan))
    if not plans:
        return 0
    heads = [
        [
            p["id"],
            p["customer_id"],
            p["terms_code"],
            plan.level,
            p["currency"],
            plan.document_date,
            plan.due_date,
            str(plan.overdue_total),
        ]
        for p, plan in plans
    ]
    created = await conn.fetch(
        R.insert_reminders, *arrays(heads, 8), automation_id, env.process_now
    )
    ids = {r["billing_profile_id"]: r["id"] for r in created}
    lines = [
        [
            ids[p["id"]],
            x.invoice.invoice_id,
            x.kind,
            x.level,
            x.invoice.number,
            x.invoice.issue_date,
            x.invoice.due_date,
            str(x.invoice.total),
            str(x.invoice.amount_due),
            x.invoice.on_hold,
        ]
        for p, plan in plans
        if p["id"] in ids
        for x in plan.lines
    ]
    if lines:
        await conn.execute(R.insert_reminder_lines, *arrays(lines, 10))
    return len(created)
