"""`tarif jobs`, `tarif alerts`, `tarif activity`: operations jobs, their runs, alerts and the
activity log from the command line, through the same functions as the admin API (so `--json`
prints its documents); changes are audited as `cli`.

A job's `--start` without a zone is read in its `--time-zone`; other times without a zone are
UTC. `tarif jobs run --process-now T` is refused in a production deployment
(TARIF_ENVIRONMENT), as the API refuses it. `tarif jobs run --wait` (and `retry --wait`) follows
the queued run to its end with its progress on stderr, and exits 1 if it failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tarif_cli import output
from tarif_cli.connections import run, with_pool, with_urls
from tarif_cli.progress import reporting
from tarif_common.embedded import embedded_services
from tarif_common.settings import Settings
from tarif_jobs.process_now import process_now

REFUSED = 2  # the exit code of a refusal (bad input), as main's


def _with_pool(settings: Settings, work: Callable[[Any], Any]) -> Any:
    with embedded_services(settings) as urls:
        return run(with_pool(with_urls(settings, urls), work))


def _cli() -> Any:
    from admin_api.auth import Principal, Role

    return Principal(0, "cli", Role.ADMIN)


def _now() -> datetime:
    return datetime.now(UTC)


def _instant(value: str) -> datetime:
    """An ISO date or time; without a zone, UTC."""
    at = datetime.fromisoformat(value)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _refuse(message: str) -> int:
    print(f"tarif: {message}", file=sys.stderr)
    return REFUSED


def _more(lines: list[str], document: dict[str, Any]) -> list[str]:
    if document.get("next_cursor"):
        lines.append(f"more: --cursor {document['next_cursor']}")
    return lines


# -- jobs ------------------------------------------------------------------------------------


def schedule_text(job: dict[str, Any]) -> str:
    s = job["schedule"]
    if s["kind"] == "chained":
        return f"after job {s['parent']} ({s['parent_name']})"
    start = output.when(s["start_at"])
    if s["kind"] == "once":
        return f"once at {start}"
    return f"every {s['every_n']} {s['every_unit']} from {start} ({s['time_zone']})"


def criteria_text(criteria: dict[str, Any]) -> str:
    return json.dumps(criteria, sort_keys=True) if criteria else "everyone"


def jobs_lines(document: dict[str, Any]) -> list[str]:
    items = document["items"]
    if not items:
        return ["no jobs"]
    rows = [
        [
            str(j["id"]),
            j["status"],
            j["job_type"],
            j["name"],
            output.when(j["next_run_at"]),
            schedule_text(j),
            criteria_text(j["criteria"]),
        ]
        for j in items
    ]
    headers = ["id", "status", "type", "name", "next run", "schedule", "criteria"]
    return _more(output.table(headers, rows, right=[0]), document)


def job_lines(job: dict[str, Any]) -> list[str]:
    last = job["last_run"]
    pairs = [
        ("type", job["job_type"]),
        ("status", job["status"]),
        ("description", output.text(job["description"])),
        ("schedule", schedule_text(job)),
        ("runs left", _runs_left(job)),
        ("next run", output.when(job["next_run_at"])),
        ("criteria", criteria_text(job["criteria"])),
        ("last run", f"{last['id']} ({last['status']})" if last else output.NONE),
    ]
    return [f"job {job['id']}: {job['name']}", *output.fields(pairs)]


def _runs_left(job: dict[str, Any]) -> str:
    if job["schedule"]["kind"] == "once":
        return output.NONE  # one run
    return "endless" if job["runs_left"] == -1 else str(job["runs_left"])


def _job_body(args: argparse.Namespace) -> dict[str, Any]:
    """The JobNew document the arguments give (validated by the caller)."""
    schedule: dict[str, Any] = {"time_zone": args.time_zone}
    if args.after is not None:
        schedule |= {"kind": "chained", "parent": args.after}
    else:
        schedule["kind"] = "every" if args.every else "once"
    if args.start is not None:
        start = datetime.fromisoformat(args.start)
        if start.tzinfo is None:
            with contextlib.suppress(ZoneInfoNotFoundError, ValueError):  # JobNew names it
                start = start.replace(tzinfo=ZoneInfo(args.time_zone))
        schedule["start_at"] = start.isoformat()
    if args.every:
        schedule |= {"every_n": args.every[0], "every_unit": args.every[1]}
    return {
        "job_type": args.type,
        "name": args.name,
        "description": args.description,
        "schedule": schedule,
        "runs_left": args.runs_left,
        "active": not args.paused,
        "criteria": json.loads(args.criteria),
    }


def cmd_jobs(settings: Settings, args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from admin_api import jobs
    from admin_api.job_bodies import JobNew
    from admin_api.paging import Listing

    body = None
    if args.action == "create":
        try:
            body = JobNew.model_validate(_job_body(args))
        except (ValueError, ValidationError) as exc:
            if isinstance(exc, ValidationError):
                first = exc.errors()[0]
                return _refuse(f"{'.'.join(map(str, first['loc']))}: {first['msg']}")
            return _refuse(f"--start or --criteria: {exc}")

    async def work(pool: Any) -> Any:
        async with pool.acquire() as conn:
            if args.action == "list":
                filters = {"status": args.status, "job_type": args.type, "name": args.name}
                page = Listing(args.limit, args.cursor, args.sort)
                items, cursor = await jobs.list_jobs(conn, page, filters)
                return {"items": items, "next_cursor": cursor}
            if args.action == "show":
                return await jobs.get(conn, args.id)
            if args.action == "create":
                assert body is not None
                return await jobs.create(conn, _cli(), body, _now())
            if args.action == "delete":
                await jobs.delete(conn, _cli(), args.id)
                return {"deleted": args.id}
            return await jobs.set_active(conn, _cli(), args.id, args.action == "resume", _now())

    document = _with_pool(settings, work)
    if args.action == "list":
        output.emit(document, jobs_lines, args.json)
    elif args.action == "delete":
        output.emit(document, lambda d: [f"job {d['deleted']} deleted"], args.json)
    else:
        output.emit(document, job_lines, args.json)
    return 0


# -- runs ------------------------------------------------------------------------------------


def _duration(ms: int | None) -> str:
    if ms is None:
        return output.NONE
    seconds = ms // 1000
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def runs_lines(document: dict[str, Any]) -> list[str]:
    items = document["items"]
    if not items:
        return ["no runs"]
    rows = [
        [
            str(r["id"]),
            r["job_name"],
            r["job_type"],
            r["trigger"],
            r["status"],
            output.when(r["process_now"]),
            output.when(r["started_at"]),
            _duration(r["duration_ms"]),
            f"{r['progress']['done']}/{r['progress']['total']}",
            str(r["succeeded"]),
            str(r["failed"]),
        ]
        for r in items
    ]
    headers = ["id", "job", "type", "trigger", "status", "as of", "started", "took", "done"]
    return _more(output.table([*headers, "ok", "failed"], rows, right=[0, 8, 9, 10]), document)


def run_lines(r: dict[str, Any]) -> list[str]:
    verb = "made before (nothing new)" if r.get("replayed") else r["status"]
    pairs = [
        ("job", f"{r['job_id'] or 'deleted'} ({r['job_name']}, {r['job_type']})"),
        ("trigger", r["trigger"] + (f" of run {r['retry_of']}" if r["retry_of"] else "")),
        ("as of", output.when(r["process_now"])),
        ("queued", output.when(r["queued_at"])),
        ("started", output.when(r["started_at"])),
        ("finished", output.when(r["finished_at"])),
        ("took", _duration(r["duration_ms"])),
        ("progress", f"{r['progress']['done']}/{r['progress']['total']}"),
        ("succeeded", str(r["succeeded"])),
        ("failed", str(r["failed"])),
        ("to retry", str(r["items_to_retry"])),
        ("error", output.text(r["error"])),
    ]
    return [f"run {r['id']}: {verb}", *output.fields(pairs)]


def items_lines(document: dict[str, Any]) -> list[str]:
    items = document["items"]
    if not items:
        return ["no failed items"]
    lines = []
    for i in items:
        retried = f", retried by run {i['retried_by']}" if i["retried_by"] else ""
        cause = f" (likely cause: {i['cause']})" if i["cause"] else ""
        lines.append(f"{i['object_type']} {i['object_id']}{cause}{retried}")
        lines += [f"    {line}" for line in i["error"].splitlines()]
    return _more(lines, document)


def cmd_runs(settings: Settings, args: argparse.Namespace) -> int:
    from admin_api import job_runs
    from admin_api.job_bodies import RetryNew, RunNow
    from admin_api.paging import Paging

    now = _now()
    if args.action == "run":
        process_now(settings, args.process_now, now)  # refused in production: exit 2

    async def work(pool: Any) -> Any:
        document = await answer(pool)
        if args.wait:
            from tarif_cli.job_wait import follow

            finished = await follow(pool, document["id"], progress, give_up_after=args.timeout)
            replayed = {"replayed": document["replayed"]} if "replayed" in document else {}
            document = finished | replayed
        return document

    async def answer(pool: Any) -> Any:
        async with pool.acquire() as conn:
            if args.action == "runs":
                filters = job_runs.RunFilters(
                    args.job, args.type, args.status, args.since, args.until
                )
                page = Paging(args.limit, args.cursor)
                items, cursor = await job_runs.list_runs(conn, page, filters)
                return {"items": items, "next_cursor": cursor}
            if args.action == "run-items":
                page = Paging(args.limit, args.cursor)
                items, cursor = await job_runs.list_items(conn, args.run, page)
                return {"items": items, "next_cursor": cursor}
            if args.action == "run-show":
                return await job_runs.get_run(conn, args.run)
            if args.action == "retry":
                retry = RetryNew(request_id=args.request_id)
                return await job_runs.retry(conn, _cli(), args.run, retry)
            body = RunNow(process_now=args.process_now, request_id=args.request_id)
            return await job_runs.run_now(conn, _cli(), args.id, body, now)

    with reporting() as progress:
        document = _with_pool(settings, work)
    lines = {"runs": runs_lines, "run-items": items_lines}.get(args.action, run_lines)
    output.emit(document, lines, args.json)
    if args.wait and document["status"] not in ("succeeded", "failed"):
        print(
            f"tarif: run {document['id']} is {document['status']} after {args.timeout:g} s;"
            f" `tarif jobs run-show {document['id']}` follows it",
            file=sys.stderr,
        )
        return 1
    return 1 if args.wait and document["status"] == "failed" else 0


# -- alerts and the activity log -------------------------------------------------------------


def alerts_lines(document: dict[str, Any]) -> list[str]:
    items = document["items"]
    if not items:
        return ["no alerts"]
    rows = [
        [
            str(a["id"]),
            a["status"],
            a["severity"],
            a["process"],
            f"{a['object_type']} {a['object_id']}" if a["object_type"] else output.NONE,
            str(a["occurrences"]),
            output.when(a["last_at"]),
            a["message"],
        ]
        for a in items
    ]
    headers = ["id", "status", "severity", "process", "object", "times", "last", "message"]
    return _more(output.table(headers, rows, right=[0, 5]), document)


def alert_lines(a: dict[str, Any]) -> list[str]:
    return [
        f"alert {a['id']} acknowledged by {a['acknowledged_by']}"
        f" at {output.when(a['acknowledged_at'])}: {a['message']}"
    ]


def activity_lines(document: dict[str, Any]) -> list[str]:
    items = document["items"]
    if not items:
        return ["no activity"]
    rows = [
        [
            output.when(e["at"]),
            e["level"],
            e["process"],
            f"{e['object_type']} {e['object_id']}" if e["object_type"] else output.NONE,
            e["message"],
            output.text(e["cause"]),
        ]
        for e in items
    ]
    headers = ["at", "level", "process", "object", "message", "likely cause"]
    return _more(output.table(headers, rows), document)


def cmd_alerts(settings: Settings, args: argparse.Namespace) -> int:
    from admin_api import alerts
    from admin_api.paging import Paging

    async def work(pool: Any) -> Any:
        async with pool.acquire() as conn:
            if args.action == "ack":
                return await alerts.acknowledge(conn, _cli(), args.id)
            page = Paging(args.limit, args.cursor)
            if args.action == "activity":
                filters = alerts.ActivityFilters(
                    args.process, args.object_type, args.object_id, args.level, args.run,
                    args.since, args.until,
                )  # fmt: skip
                items, cursor = await alerts.activity(conn, page, filters)
            else:
                status = "open" if args.open else None
                items, cursor = await alerts.list_alerts(
                    conn, page, status=status, severity=args.severity, process=args.process
                )
            return {"items": items, "next_cursor": cursor}

    document = _with_pool(settings, work)
    lines = {"ack": alert_lines, "activity": activity_lines}.get(args.action or "", alerts_lines)
    output.emit(document, lines, args.json)
    return 0


# -- the parsers -----------------------------------------------------------------------------


def _paged(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--cursor", help="next page: the cursor printed after the last")


def add_parsers(sub: Any, answers: argparse.ArgumentParser) -> None:
    """`tarif jobs ...`, `tarif alerts [ack]` and `tarif activity` (main.py)."""
    from tarif_jobs.kinds import JOB_TYPES

    jobs = sub.add_parser("jobs", help="operations jobs and their runs")
    actions = jobs.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", parents=[answers], help="jobs, status and next run")
    listing.add_argument("--status", choices=["active", "paused", "finished"])
    listing.add_argument("--type", choices=JOB_TYPES)
    listing.add_argument("--name", help="a part of the name")
    listing.add_argument("--sort", help="id, name or next_run_at (-field: descending)")
    _paged(listing)
    for action, text in (
        ("show", "one job"),
        ("pause", "pause a job (no next run)"),
        ("resume", "resume a job (next run from now)"),
        ("delete", "delete a job (its runs stay)"),
    ):
        actions.add_parser(action, parents=[answers], help=text).add_argument("id", type=int)
    create = actions.add_parser("create", parents=[answers], help="a new job")
    create.add_argument("--type", required=True, help=", ".join(JOB_TYPES))
    create.add_argument("--name", required=True)
    create.add_argument("--description", default="")
    create.add_argument("--start", help="ISO time (no zone: the --time-zone's)")
    create.add_argument(
        "--every", nargs=2, metavar=("N", "UNIT"), help="repeat: e.g. 1 days, 90 minutes"
    )
    create.add_argument("--after", type=int, metavar="JOB", help="chained after this job")
    create.add_argument("--time-zone", default="UTC", help="IANA name (default UTC)")
    create.add_argument("--runs-left", type=int, default=-1, help="-1: endless (default)")
    create.add_argument("--paused", action="store_true", help="create it paused")
    create.add_argument(
        "--criteria", default="{}", help='JSON, e.g. \'{"customer_types": ["business"]}\''
    )
    jobs.set_defaults(func=cmd_jobs)

    now = actions.add_parser("run", parents=[answers], help="run a job now (queued)")
    now.add_argument("id", type=int)
    now.add_argument(
        "--process-now", type=_instant, help="the time the run acts as of (not in production)"
    )
    now.add_argument("--request-id", help="idempotency key: a repeat answers the same run")
    runs = actions.add_parser("runs", parents=[answers], help="the run history, newest first")
    runs.add_argument("--job", type=int, help="job id")
    runs.add_argument("--type", choices=JOB_TYPES)
    runs.add_argument("--status", choices=["queued", "running", "succeeded", "failed"])
    runs.add_argument("--since", type=_instant, help="queued at or after")
    runs.add_argument("--until", type=_instant, help="queued before")
    _paged(runs)
    show = actions.add_parser("run-show", parents=[answers], help="one run and its progress")
    show.add_argument("run", type=int)
    items = actions.add_parser("run-items", parents=[answers], help="a run's failed items")
    items.add_argument("run", type=int)
    _paged(items)
    retry = actions.add_parser("retry", parents=[answers], help="retry what a run failed")
    retry.add_argument("run", type=int)
    retry.add_argument("--request-id", help="idempotency key: a repeat answers the same retry")
    for parser in (now, retry):
        parser.add_argument(
            "--wait", action="store_true", help="follow the run to its end (progress on stderr)"
        )
        parser.add_argument(
            "--timeout", type=float, help="with --wait: give up waiting after this many seconds"
        )
    for parser in (now, runs, show, items, retry):
        parser.set_defaults(func=cmd_runs, wait=False, timeout=None)

    alerts = sub.add_parser("alerts", parents=[answers], help="alerts for operators")
    alerts.add_argument("--open", action="store_true", help="only those not acknowledged")
    alerts.add_argument("--severity", choices=["warning", "critical"])
    alerts.add_argument("--process")
    _paged(alerts)
    alerts.set_defaults(func=cmd_alerts)
    alert_actions = alerts.add_subparsers(dest="action")  # none: the list
    ack = alert_actions.add_parser("ack", parents=[answers], help="acknowledge an alert")
    ack.add_argument("id", type=int)

    activity = sub.add_parser(
        "activity", parents=[answers], help="the activity log: process, object, likely cause"
    )
    activity.add_argument("--process")
    activity.add_argument("--object-type")
    activity.add_argument("--object-id")
    activity.add_argument("--level", choices=["info", "warning", "error"])
    activity.add_argument("--run", type=int, help="a run's entries")
    activity.add_argument("--since", type=_instant, help="at or after")
    activity.add_argument("--until", type=_instant, help="before")
    _paged(activity)
    activity.set_defaults(func=cmd_alerts, action="activity")
