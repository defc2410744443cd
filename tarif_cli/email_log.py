"""`tarif email-log`: the e-mails the back office sent or tried (newest first), and `tarif
email-log resend ID` to send a failed one again, through the admin API's functions (audited as
`system`; the SMTP server from TARIF_SMTP_*), so `--json` prints the API's documents."""

from __future__ import annotations

import argparse
from typing import Any

from tarif_cli import output
from tarif_cli.connections import run, with_pool, with_urls
from tarif_common.embedded import embedded_services
from tarif_common.settings import Settings


def _object(message: dict[str, Any]) -> str:
    if not message["object_type"]:
        return output.text(None)
    return f"{message['object_type']} {message['object_id']}"


def list_lines(document: dict[str, Any]) -> list[str]:
    rows = [
        [
            str(m["id"]),
            m["status"],
            m["kind"],
            _object(m),
            m["recipient"],
            m["subject"],
            str(m["attempts"]),
            output.when(m["sent_at"] or m["updated_at"]),
            output.text(m["error"]),
        ]
        for m in document["items"]
    ]
    headers = ["id", "status", "kind", "object", "to", "subject", "tries", "at", "error"]
    lines = output.table(headers, rows, right=[0, 6]) if rows else ["no e-mails"]
    if document["next_cursor"]:
        lines.append(f"more: --cursor {document['next_cursor']}")
    return lines


def message_lines(message: dict[str, Any]) -> list[str]:
    return output.fields(
        [
            ("e-mail", f"{message['id']} ({message['status']})"),
            ("key", message["message_key"]),
            ("about", _object(message)),
            ("to", message["recipient"]),
            ("subject", message["subject"]),
            ("attachments", ", ".join(message["attachments"]) or output.text(None)),
            ("attempts", str(message["attempts"])),
            ("first tried", output.when(message["created_at"])),
            ("sent", output.when(message["sent_at"])),
            ("error", output.text(message["error"])),
            ("smtp answer", output.text(message["smtp_response"])),
        ]
    )


def cmd_email_log(settings: Settings, args: argparse.Namespace) -> int:
    from admin_api import email_log
    from admin_api.auth import SYSTEM
    from admin_api.paging import Paging

    async def work(pool: Any) -> Any:
        if args.action == "resend":
            return await email_log.resend(pool, settings, SYSTEM, args.id)
        if args.action == "show":
            return await email_log.get_message(pool, args.id)
        kind, _, object_id = (args.object or "").partition(":")
        filters = {
            "status": args.status,
            "kind": args.kind,
            "object_type": kind or None,
            "object_id": object_id or None,
        }
        async with pool.acquire() as conn:
            items, cursor = await email_log.list_messages(
                conn, filters, Paging(args.limit, args.cursor)
            )
        return {"items": items, "next_cursor": cursor}

    with embedded_services(settings) as urls:
        document = run(with_pool(with_urls(settings, urls), work))
    output.emit(document, message_lines if args.action else list_lines, args.json)
    return 0


def _limit(value: str) -> int:
    number = int(value)
    if not 1 <= number <= 500:
        raise argparse.ArgumentTypeError("between 1 and 500")
    return number


def add_parser(sub: Any, answers: argparse.ArgumentParser) -> None:
    """`tarif email-log [--status S] ...`, `tarif email-log show ID`, `... resend ID`."""
    log = sub.add_parser(
        "email-log", parents=[answers], help="e-mails sent or tried (newest first); resend"
    )
    log.set_defaults(func=cmd_email_log, action=None)
    log.add_argument("--status", choices=["pending", "sent", "failed"])
    log.add_argument("--kind", help="invoice, reminder, export")
    log.add_argument("--object", help="what it is about, TYPE:ID (e.g. invoice:17)")
    log.add_argument("--limit", type=_limit, default=50, help="1-500")
    log.add_argument("--cursor", help="next page: the cursor printed after the last")
    actions = log.add_subparsers(dest="action")
    actions.add_parser("show", parents=[answers], help="one e-mail").add_argument("id", type=int)
    actions.add_parser(
        "resend", parents=[answers], help="send a failed e-mail again now (its PDF made again)"
    ).add_argument("id", type=int)
