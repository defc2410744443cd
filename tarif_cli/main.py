"""The `tarif` command: run processes, provision, and talk to a running engine.

tarif up                  embedded (or configured) Redis + Postgres, demo data, engine, batch
tarif engine [--workers N] the charging engine (gRPC + /metrics)
tarif batch               billing_batch: stream ingestion into Postgres, the notifier
tarif migrate             apply the Postgres schema migrations (also done by `batch` on start)
tarif provision FILE      load a catalog and accounts (YAML or JSON); contacts go to Postgres
tarif event SUB SERVICE   send one ChargeEvent to a running engine
tarif balances SUB        show a subscriber's balances
tarif notifications SUB   a subscriber's notifications and their deliveries
tarif unrated list|show|correct|rerate   unratable usage
tarif sepa collect --date D   a SEPA direct-debit collection (pain.008) of the invoices due by D
tarif sepa import FILE    apply the bank's pain.002 / camt.054 results
tarif admin serve         the REST admin API (also started by `tarif up`)
tarif admin create-key --role R   a new API key (printed once)
tarif billing run [--at T] bill every profile whose cycle ended by T (default now)
tarif bills list --profile P           a billing profile's bills
tarif invoices list|show|document      invoices and credit notes (document: --format, -o)
tarif payments add --profile P ...     record a payment or a refund
tarif jobs list|show|create|pause|resume|delete   operations jobs (docs/jobs-api.md)
tarif jobs run JOB [--process-now T] [--wait]   run a job now (queued; T refused in
                          production; --wait: follow it to its end, progress on stderr)
tarif jobs runs|run-show|run-items|retry          the run history, failed items, retry
tarif alerts [--open] / tarif alerts ack ID        alerts for operators
tarif activity            the activity log (process, object, likely cause)
tarif email-log [--status failed]      e-mails sent or tried; `show ID`, `resend ID` (a failed one)
tarif reminders list|start             reminders; start a reminder automation (queued)
tarif sync [--pending]    rebuild Redis from Postgres (or apply the pending outbox rows)
tarif trace EVENT [--subscriber S]   one charge's path: answer, rated record and the request id
                          of its call, bill item, invoice line (docs/tracing.md)
tarif reconcile           list differences between Postgres and Redis, and billing amounts
                          that do not add up (--from/--to: the period, default all)
tarif health engine|batch|admin   is the process up (exit 0) or not (1): container health checks

Commands that answer print lines and tables for people, with money in its currency (`-0.36 EUR`)
and units in their unit (`60 s`); with `--json` they print one JSON document for scripts, every
amount an exact decimal string. Long work (`provision`, `sync`, `reconcile`, `billing run`,
`jobs run --wait`) shows its progress on stderr: a bar on a terminal, plain lines in a log.
Exit codes: 0 done, 1 failed (or `reconcile` found differences, or a run waited for failed),
2 refused (bad input, see the message), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from tarif_cli import billing, jobs
from tarif_cli.backoffice import cmd_notifications, cmd_unrated
from tarif_cli.charging import cmd_balances, cmd_event
from tarif_cli.email_log import add_parser as add_email_log_parser
from tarif_cli.health import add_parser as add_health_parser
from tarif_cli.operations import cmd_create_key, cmd_migrate, cmd_sync
from tarif_cli.provision import cmd_provision
from tarif_cli.reminders import add_parser as add_reminders_parser
from tarif_cli.sepa import add_parser as add_sepa_parser
from tarif_cli.serve import DEMO, cmd_admin_serve, cmd_batch, cmd_engine, cmd_up
from tarif_cli.trace import add_parser as add_trace_parser
from tarif_common import logs
from tarif_common.errors import TarifError
from tarif_common.settings import Settings
from tarif_jobs.process_now import SimulatedTimeRefused


def pair(item: str) -> tuple[str, str]:
    """A `name=value` argument (a rating field)."""
    name, sep, value = item.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{item!r} is not name=value")
    return name, value


def parser() -> argparse.ArgumentParser:
    answers = argparse.ArgumentParser(add_help=False)
    answers.add_argument(
        "--json", action="store_true", help="one JSON document for scripts (amounts as strings)"
    )
    top = argparse.ArgumentParser(prog="tarif", description="Tarif rating and charging engine")
    sub = top.add_subparsers(dest="command", required=True)
    engine = sub.add_parser("engine", help="run the charging engine")
    engine.set_defaults(func=cmd_engine)
    up = sub.add_parser("up", help="start everything with demo data (make run)")
    for command in (engine, up):
        command.add_argument(
            "--workers", type=int, default=1, help="engine processes sharing the gRPC port"
        )
    up.add_argument("--demo", type=Path, default=DEMO, help="provisioning file to load first")
    up.set_defaults(func=cmd_up)
    prov = sub.add_parser(
        "provision", parents=[answers], help="load a catalog and accounts into Redis"
    )
    prov.add_argument("file", type=Path)
    prov.set_defaults(func=cmd_provision)
    event = sub.add_parser("event", parents=[answers], help="send one ChargeEvent to the engine")
    event.add_argument("subscriber")
    event.add_argument("service")
    event.add_argument("--units", type=int, default=1)
    event.add_argument("--event-id")
    event.add_argument(
        "--attr", type=pair, action="append", default=[], help="rating field, name=value"
    )
    event.set_defaults(func=cmd_event)
    bal = sub.add_parser("balances", parents=[answers], help="show a subscriber's balances")
    bal.add_argument("subscriber")
    bal.set_defaults(func=cmd_balances)
    sub.add_parser("batch", help="run billing_batch (ingestion, notifier)").set_defaults(
        func=cmd_batch
    )
    sub.add_parser("migrate", parents=[answers], help="apply the Postgres migrations").set_defaults(
        func=cmd_migrate
    )
    notes = sub.add_parser("notifications", parents=[answers], help="a subscriber's notifications")
    notes.add_argument("subscriber")
    notes.add_argument("--account", action="store_true", help="the argument is an account id")
    notes.add_argument("--before", type=int, help="next page: the last id seen")
    notes.add_argument("--limit", type=int, default=50)
    notes.set_defaults(func=cmd_notifications)
    _unrated_parser(
        sub.add_parser("unrated", help="unratable usage: list, correct, re-rate"), answers
    )
    add_sepa_parser(sub, answers)
    admin = sub.add_parser("admin", help="the REST admin API")
    admin_actions = admin.add_subparsers(dest="action", required=True)
    admin_actions.add_parser("serve", help="run it").set_defaults(func=cmd_admin_serve)
    key = admin_actions.add_parser(
        "create-key", parents=[answers], help="a new API key, printed once"
    )
    key.add_argument("--role", required=True, choices=["admin", "operator", "auditor"])
    key.add_argument("--name", default="")
    key.set_defaults(func=cmd_create_key)
    billing.add_parsers(sub, answers)
    jobs.add_parsers(sub, answers)
    add_email_log_parser(sub, answers)
    add_reminders_parser(sub, answers)
    add_trace_parser(sub, answers)
    add_health_parser(sub)
    sync = sub.add_parser("sync", parents=[answers], help="rebuild Redis from Postgres")
    sync.add_argument("--pending", action="store_true", help="only the pending outbox rows")
    sync.set_defaults(func=cmd_sync)
    reconciling = sub.add_parser(
        "reconcile",
        parents=[answers],
        help="Postgres vs Redis differences and billing amounts that differ (exit 1 if any)",
    )
    reconciling.add_argument(
        "--from", dest="since", type=_instant, default=datetime(1970, 1, 1, tzinfo=UTC),
        help="billing period start (ISO date or time, UTC)",
    )  # fmt: skip
    reconciling.add_argument(
        "--to", dest="until", type=_instant, default=datetime(9999, 1, 1, tzinfo=UTC),
        help="billing period end, excluded",
    )  # fmt: skip
    reconciling.set_defaults(func=cmd_sync)
    return top


def _instant(value: str) -> datetime:
    """An ISO date or time; without a zone, UTC."""
    at = datetime.fromisoformat(value)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _unrated_parser(unrated: argparse.ArgumentParser, answers: argparse.ArgumentParser) -> None:
    unrated.set_defaults(func=cmd_unrated)
    actions = unrated.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", parents=[answers], help="oldest first")
    listing.add_argument("--status", choices=["open", "corrected", "rerated", "rejected"])
    listing.add_argument("--reason")
    listing.add_argument("--subscriber")
    listing.add_argument("--after", type=int, help="next page: the last id seen")
    listing.add_argument("--limit", type=int, default=100)
    actions.add_parser("show", parents=[answers]).add_argument("id", type=int)
    fix = actions.add_parser(
        "correct", parents=[answers], help="fix the identifier, service or rating fields"
    )
    fix.add_argument("id", type=int)
    fix.add_argument("--subscriber", help="the right service identifier")
    fix.add_argument("--service")
    fix.add_argument(
        "--attr", type=pair, action="append", default=[], help="set a rating field, name=value"
    )
    fix.add_argument("--remove-attr", action="append", default=[], help="drop a rating field")
    actions.add_parser(
        "rerate", parents=[answers], help="charge it through the engine (once)"
    ).add_argument("id", type=int)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings()
    logs.configure(
        settings.log_level, settings.log_format if sys.stderr.isatty() is False else "text"
    )
    try:
        code: int = args.func(settings, args)
    except TarifError as exc:
        print(f"tarif: {exc.message}", file=sys.stderr)
        return 2
    except SimulatedTimeRefused as exc:
        print(f"tarif: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
