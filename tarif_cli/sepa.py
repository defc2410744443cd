"""`tarif sepa collect` and `tarif sepa import`: SEPA direct debit through the same functions as
the admin API (audited as `system`), so `--json` prints the API's documents."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

from tarif_cli import output
from tarif_cli.connections import run, with_pool, with_urls
from tarif_common.embedded import embedded_services
from tarif_common.settings import Settings


def collection_lines(document: dict[str, Any]) -> list[str]:
    """The collection and one row per debit."""
    head = (
        f"collection {document['id']} ({document['status']})  {document['message_id']}"
        f"  on {document['collection_date']}: {document['item_count']} debits,"
        f" {document['total']} {document['currency']}"
    )
    rows = [
        [i["end_to_end_id"], i["invoice_number"], i["mandate_reference"], i["sequence_type"],
         f"{i['amount']} {document['currency']}", i["status"]]
        for i in document["items"]
    ]  # fmt: skip
    table = output.table(["end-to-end id", "invoice", "mandate", "type", "amount", "status"], rows)
    return [head, *table, f"file: GET /v1/sepa/collections/{document['id']}/file"]


def results_lines(document: dict[str, Any]) -> list[str]:
    counts = ", ".join(f"{n} {answer}" for answer, n in sorted(document["counts"].items()))
    rows = [
        [i["end_to_end_id"], i["answer"], output.text(i["reason"]),
         output.text(i["payment_id"])]
        for i in document["items"]
    ]  # fmt: skip
    table = output.table(["end-to-end id", "answer", "reason", "payment"], rows)
    return [f"{document['kind']}: {counts or 'no debits'}", *table]


def cmd_sepa(settings: Settings, args: argparse.Namespace) -> int:
    from admin_api import sepa
    from admin_api.auth import SYSTEM
    from tarif_billing.sepa.collections import creditor_of

    async def work(pool: Any) -> Any:
        async with pool.acquire() as conn:
            if args.action == "collect":
                request_id = args.request_id or f"cli-collect-{args.date.isoformat()}"
                found, _ = await sepa.create_collection(
                    conn, SYSTEM, creditor_of(settings), request_id, args.date
                )
                return found
            return await sepa.import_results(conn, SYSTEM, args.file.read_bytes(), args.collection)

    with embedded_services(settings) as urls:
        document = run(with_pool(with_urls(settings, urls), work))
    lines = collection_lines if args.action == "collect" else results_lines
    output.emit(document, lines, args.json)
    return 0


def add_parser(sub: Any, answers: argparse.ArgumentParser) -> None:
    """`tarif sepa collect|import`."""
    sepa = sub.add_parser("sepa", help="SEPA direct debit: collect due invoices, import results")
    sepa.set_defaults(func=cmd_sepa)
    actions = sepa.add_subparsers(dest="action", required=True)
    collect = actions.add_parser(
        "collect", parents=[answers], help="a pain.008 file of the invoices due by a date"
    )
    collect.add_argument("--date", type=date.fromisoformat, required=True, help="YYYY-MM-DD")
    collect.add_argument(
        "--request-id", help="idempotency key (default cli-collect-<date>: one per date)"
    )
    load = actions.add_parser(
        "import", parents=[answers], help="apply the bank's pain.002 or camt.054 file"
    )
    load.add_argument("file", type=Path)
    load.add_argument("--collection", type=int, help="apply to this collection's debits only")
