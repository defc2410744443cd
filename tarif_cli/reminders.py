"""`tarif reminders list` and `tarif reminders start`: collections from the command line,
through the same functions as the admin API (Start audited as `system`), so `--json` prints
the API's documents."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from typing import Any

from tarif_cli import output
from tarif_cli.connections import run, with_pool, with_urls
from tarif_common.embedded import embedded_services
from tarif_common.errors import InvalidRequest
from tarif_common.settings import Settings
from tarif_jobs.process_now import process_now


def reminders_lines(document: dict[str, Any]) -> list[str]:
    items = document["items"]
    if not items:
        return ["no reminders"]
    rows = [
        [
            str(r["id"]),
            str(r["customer_id"]),
            str(r["billing_profile_id"]),
            r["terms"],
            str(r["level"]),
            r["status"],
            r["document_date"],
            r["due_date"],
            output.quantity(r["overdue_total"], r["currency"]),
            output.quantity(r["fee_amount"], r["currency"]),
            str(r["sent_count"]),
            output.text(r["last_error"]),
        ]
        for r in items
    ]
    headers = [
        "id", "customer", "profile", "terms", "level", "status", "date", "due", "overdue",
        "fee", "sent", "error",
    ]  # fmt: skip
    lines = output.table(headers, rows, right=[8, 9])
    if document.get("next_cursor"):
        lines.append(f"more: --cursor {document['next_cursor']}")
    return lines


def started_lines(document: dict[str, Any]) -> list[str]:
    return [
        f"automation {document['automation_id']} started: job run {document['job_run_id']}"
        f" ({document['status']}) as of {output.when(document['process_now'])}"
    ]


def cmd_reminders(settings: Settings, args: argparse.Namespace) -> int:
    from admin_api import reminders
    from admin_api.auth import SYSTEM
    from admin_api.paging import Paging

    if args.action == "start":
        process_now(settings, args.process_now, datetime.now(UTC))  # production: exit 2
    elif not 1 <= args.limit <= 500:
        raise InvalidRequest("--limit", "must be 1 to 500")

    async def work(pool: Any) -> Any:
        async with pool.acquire() as conn:
            if args.action == "start":
                return await reminders.start(conn, SYSTEM, args.automation, args.process_now)
            filters = {
                "customer_id": args.customer,
                "billing_profile_id": args.profile,
                "level": args.level,
                "status": args.status,
                "terms": args.terms,
            }
            items, cursor = await reminders.list_reminders(
                conn, filters, Paging(args.limit, args.cursor)
            )
            return {"items": [_plain(i) for i in items], "next_cursor": cursor}

    with embedded_services(settings) as urls:
        document = run(with_pool(with_urls(settings, urls), work))
    output.emit(document, started_lines if args.action == "start" else reminders_lines, args.json)
    return 0


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """Dates as ISO text (JSON has no date type); moments stay for the encoder."""
    return {
        k: v.isoformat() if isinstance(v, date) and not isinstance(v, datetime) else v
        for k, v in row.items()
    }


def _instant(value: str) -> datetime:
    """An ISO date or time; without a zone, UTC."""
    at = datetime.fromisoformat(value)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def add_parser(sub: Any, answers: argparse.ArgumentParser) -> None:
    """`tarif reminders list|start`."""
    top = sub.add_parser("reminders", help="collections: reminders, start an automation")
    top.set_defaults(func=cmd_reminders)
    actions = top.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", parents=[answers], help="reminders, newest first")
    listing.add_argument("--customer", type=int)
    listing.add_argument("--profile", type=int, help="billing profile id")
    listing.add_argument("--level", type=int)
    listing.add_argument("--status", choices=["draft", "issued", "sent", "cancelled"])
    listing.add_argument("--terms")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--cursor", help="next page: the cursor printed after the last")
    starting = actions.add_parser(
        "start", parents=[answers], help="run an automation now (queued for the batch)"
    )
    starting.add_argument("automation", type=int, help="automation id")
    starting.add_argument(
        "--process-now",
        type=_instant,
        help="the date it acts as of (ISO; refused in production)",
    )
