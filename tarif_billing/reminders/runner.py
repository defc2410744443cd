"""One collections run: the automations it covers, each one's actions in order, the run log.

Which automations: those due by "process now" (active, `next_run_at` passed: each by its own
cadence), or with `start` the ones named (the seed's Start: whatever their cadence), or for a
retry run the ones the retried run went through. The job's customer criteria narrow them all.

For each automation a `reminder_runs` row (the one a crash left `running` for the same job run
and time is taken up again), then its actions in position order: each logs what it did
(`reminder_run_actions`: processed, failed, the first error); an action with a failed item, or
one that stopped on an error, is `failed`, and with `stop_on_error` the actions after it are
`skipped`. The run ends `succeeded` or `failed`, and a scheduled automation's next run moves
past "process now" in the same transaction (so a second run as of the same time finds nothing
due, and a run stopped midway is resumed: its automation is still due).

Retrying failed items: an item is a reminder (issue, send), a billing profile (a create chunk)
or an action that stopped (`reminder_action`); a retry run re-does only those: an action it
names in full, the others on the failed reminders and profiles alone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tarif_billing.reminders.cadence import Cadence, next_after
from tarif_billing.reminders.create import create_reminders
from tarif_billing.reminders.issue import issue_reminders
from tarif_billing.reminders.options import options_of
from tarif_billing.reminders.scope import Env, Scope
from tarif_billing.reminders.send import send_reminders
from tarif_jobs.criteria import Criteria
from tarif_jobs.items import describe
from tarif_jobs.reminder_criteria import CollectionsCriteria
from tarif_jobs.runs import ItemRef, Items, RunRequest
from tarif_postgres import queries

R = queries.load("reminders")

Action = Callable[[Env, Scope, Any, Items, int | None], Awaitable[None]]
ACTIONS: dict[str, Action] = {
    "create": create_reminders,
    "issue": issue_reminders,
    "send": send_reminders,
}


@dataclass
class Counted:
    """Items that also counts what one action did, for the run log."""

    items: Items
    processed: int = 0
    failures: int = 0
    first_error: str | None = field(default=None)

    async def add_total(self, n: int) -> None:
        await self.items.add_total(n)

    async def succeeded(self, n: int = 1) -> None:
        self.processed += n
        await self.items.succeeded(n)

    async def failed(self, ref: ItemRef, error: BaseException | str, *, cause: str = "") -> None:
        self.processed += 1
        self.failures += 1
        if self.first_error is None:
            text = describe(error).splitlines()
            self.first_error = f"{ref.object_type} {ref.object_id}: {text[-1] if text else ''}"
        await self.items.failed(ref, error, cause=cause)


async def run_collections(env: Env, request: RunRequest, items: Items) -> None:
    """Run every automation the request covers (see the module's docstring)."""
    criteria = CollectionsCriteria.model_validate(request.criteria or {})
    named = criteria.automations or None
    async with env.pool.acquire() as conn:
        if request.only is not None:
            trigger = "retry"
            if request.run_id is not None:
                rows = await conn.fetch(R.automations_of_retried_run, request.run_id)
            else:
                rows = await conn.fetch(R.active_automations, named)
            chosen = [r["id"] for r in rows if named is None or r["id"] in named]
        elif criteria.start:
            trigger, chosen = "start", list(named or [])
        else:
            rows = await conn.fetch(R.due_automations, env.process_now, named)
            trigger, chosen = "schedule", [r["id"] for r in rows]
    for automation_id in chosen:
        if env.stop():
            return
        await run_automation(env, automation_id, trigger, criteria, request, items)


async def run_automation(
    env: Env,
    automation_id: int,
    trigger: str,
    customers: Criteria,
    request: RunRequest,
    items: Items,
) -> None:
    async with env.pool.acquire() as conn:
        automation = await conn.fetchrow(R.automation_by_id, automation_id)
        if automation is None:
            return  # deleted since the run was asked for
        actions = await conn.fetch(R.actions_of, automation_id)
        run_id = await conn.fetchval(
            R.open_run, automation_id, request.run_id, trigger, env.process_now
        )
    own = Criteria.model_validate(automation["criteria"] or {})
    failed = halted = False
    for action in actions:
        if halted:
            await _log(env, run_id, action, "skipped", Counted(items), "a previous action failed")
            continue
        counted = Counted(items)
        error: str | None = None
        try:
            options = options_of(action["kind"], action["options"])
            every = (customers, own, options.criteria)
            scope = _scope(request, automation["terms"], action["id"], every)
            await ACTIONS[action["kind"]](env, scope, options, counted, automation_id)
        except Exception as exc:
            error = describe(exc).splitlines()[-1]
            await counted.failed(
                ItemRef("reminder_action", str(action["id"])),
                exc,
                cause=f"the {action['kind']} action of automation {automation['name']!r} stopped",
            )
        if env.stop():
            return  # resumed later: this run stays `running`, its automation due
        status = "failed" if counted.failures else "succeeded"
        await _log(env, run_id, action, status, counted, error or counted.first_error)
        if counted.failures:
            failed = True
            halted = action["stop_on_error"]
    async with env.pool.acquire() as conn, conn.transaction():
        await conn.execute(R.finish_run, run_id, "failed" if failed else "succeeded")
        if trigger == "schedule":
            cadence = cadence_of(automation)
            after = next_after(cadence, automation["next_run_at"], env.process_now)
            await conn.execute(
                R.advance_automation,
                automation_id,
                automation["next_run_at"],
                after,
                env.process_now,
            )
        elif trigger == "start":
            await conn.execute(R.mark_automation_started, automation_id, env.process_now)


def cadence_of(automation: Any) -> Cadence:
    return Cadence(
        kind=automation["cadence"],
        formula=automation["formula"],
        starts_at=automation["starts_at"],
        time_zone=automation["time_zone"],
    )


def _scope(
    request: RunRequest, terms: list[str], action_id: int, criteria: tuple[Criteria, ...]
) -> Scope:
    """The action's scope: on a retry, the failed objects only (unless the action itself
    failed: then all of it again)."""
    if request.only is None or ItemRef("reminder_action", str(action_id)) in request.only:
        return Scope(tuple(terms), criteria)
    return Scope(
        tuple(terms),
        criteria,
        only_profiles=[int(i) for i in request.only_ids("billing_profile") or []],
        only_reminders=[int(i) for i in request.only_ids("reminder") or []],
    )


async def _log(
    env: Env, run_id: int, action: Any, status: str, counted: Counted, error: str | None
) -> None:
    async with env.pool.acquire() as conn:
        await conn.execute(
            R.record_action,
            run_id,
            action["position"],
            action["id"],
            action["kind"],
            status,
            counted.processed,
            counted.failures,
            error,
        )
