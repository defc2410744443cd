"""`tarif billing run`, `tarif bills`, `tarif invoices`, `tarif payments`: billing from the
command line, through the same functions as the admin API (so `--json` prints its documents)
and the same billing context (`tarif_billing.context`); `tarif billing run` is the batch's bulk run
(`billing_batch.billing`)."""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tarif_cli import output
from tarif_cli.connections import run, with_pool, with_urls
from tarif_cli.progress import reporting
from tarif_common.embedded import embedded_services
from tarif_common.settings import Settings
from tarif_jobs.process_now import process_now


def _with_pool(settings: Settings, work: Any) -> Any:
    with embedded_services(settings) as urls:
        return run(with_pool(with_urls(settings, urls), work))


def _money(amount: str | None, currency: str) -> str:
    return output.quantity(amount, currency)


# -- tarif billing run -----------------------------------------------------------------------


def run_lines(document: dict[str, Any]) -> list[str]:
    lines = [
        f"billing run at {output.when(document['at'])}: {document['opened']} bills opened,"
        f" {document['billed']} billed, {document['failed']} invoices failed"
    ]
    rows = [
        [
            str(i["bill_id"]),
            output.text(i["number"]),
            i["status"],
            output.text(i["total"]),
            output.text(i["amount_due"]),
            output.text(i["error"]),
        ]
        for i in document["invoices"]
    ]
    if rows:
        headers = ["bill", "invoice", "status", "total", "due", "error"]
        lines += output.table(headers, rows, right=[3, 4])
    return lines


def cmd_billing_run(settings: Settings, args: argparse.Namespace) -> int:
    """Every due profile (what the batch's run does): bills whose cycle ended by `--at`."""
    from admin_api import catalog
    from billing_batch.billing import run_due_billing

    at = process_now(settings, args.at, datetime.now(UTC))  # refused in production: exit 2

    async def work(pool: Any) -> dict[str, Any]:
        async with pool.acquire() as conn:
            published = await catalog.current(conn)
        report = await run_due_billing(pool, settings, published, at, progress=progress)
        return {
            "at": at.isoformat(),
            "opened": report.opened,
            "billed": report.billed,
            "failed": report.failed,
            "invoices": [
                {
                    "bill_id": i.bill_id,
                    "invoice_id": i.invoice_id,
                    "number": i.number,
                    "status": i.status,
                    "error": i.error,
                    "total": str(i.total),
                    "amount_due": str(i.amount_due),
                }
                for i in report.invoices
            ],
        }

    with reporting() as progress:
        document = _with_pool(settings, work)
    output.emit(document, run_lines, args.json)
    return 1 if document["failed"] else 0


# -- tarif bills list ------------------------------------------------------------------------


def bills_lines(document: dict[str, Any]) -> list[str]:
    items = document["items"]
    if not items:
        return ["no bills"]
    rows = [
        [
            str(b["id"]),
            b["status"],
            b["kind"],
            output.when(b["period_start"]),
            output.when(b["period_end"]),
            _money(b["items_total"], b["currency"]),
            _money(b["total"], b["currency"]),
            _money(b["amount_due"], b["currency"]),
            output.text(b["invoice_number"]),
        ]
        for b in items
    ]
    headers = ["id", "status", "kind", "from", "until", "charges", "total", "due", "invoice"]
    return _more(output.table(headers, rows, right=[0, 5, 6, 7]), document)


def _more(lines: list[str], document: dict[str, Any]) -> list[str]:
    if document.get("next_cursor"):
        lines.append(f"more: --cursor {document['next_cursor']}")
    return lines


def cmd_bills(settings: Settings, args: argparse.Namespace) -> int:
    from admin_api import bills
    from admin_api.paging import Paging

    async def work(pool: Any) -> dict[str, Any]:
        async with pool.acquire() as conn:
            page = Paging(args.limit, args.cursor)
            items, cursor = await bills.list_bills(conn, args.profile, args.status, page)
        return {"items": items, "next_cursor": cursor}

    output.emit(_with_pool(settings, work), bills_lines, args.json)
    return 0


# -- tarif invoices list|show|document -------------------------------------------------------


def invoices_lines(document: dict[str, Any]) -> list[str]:
    items = document["items"]
    if not items:
        return ["no invoices"]
    rows = [
        [
            str(i["id"]),
            output.text(i["number"]),
            i["kind"],
            i["status"],
            output.text(i["issue_date"]),
            output.text(i["due_date"]),
            _money(i["total"], i["currency"]),
            _money(i["amount_due"], i["currency"]),
            str(i["billing_profile_id"]),
        ]
        for i in items
    ]
    headers = ["id", "number", "kind", "status", "issued", "due", "total", "due amount"]
    return _more(output.table([*headers, "profile"], rows, right=[0, 6, 7]), document)


def invoice_lines(invoice: dict[str, Any]) -> list[str]:
    currency = invoice["currency"]
    title = f"{invoice['kind'].replace('_', ' ')} {invoice['number'] or '(no number)'}"
    pairs = [
        ("status", invoice["status"]),
        ("billing profile", str(invoice["billing_profile_id"])),
        ("customer", str(invoice["customer_id"])),
        ("issued", output.text(invoice["issue_date"])),
        ("due", output.text(invoice["due_date"])),
        (
            "period",
            f"{output.text(invoice['period_start'])} - {output.text(invoice['period_end'])}",
        ),
        ("net", _money(invoice["net_total"], currency)),
        ("tax", _money(invoice["tax_total"], currency)),
        ("total", _money(invoice["total"], currency)),
        ("paid", _money(invoice["paid"], currency)),
        ("credited", _money(invoice["credited"], currency)),
        ("amount due", _money(invoice["amount_due"], currency)),
    ]
    if invoice["corrects_number"]:
        pairs.append(("corrects", invoice["corrects_number"]))
    if invoice["error"]:
        pairs.append(("error", invoice["error"]))
    rows = [
        [str(line["number"]), line["description"], line["quantity"], line["net"], line["tax_rate"]]
        for line in invoice.get("lines") or []
    ]
    table = output.table(["#", "description", "quantity", "net", "tax %"], rows, right=[0, 2, 3, 4])
    return [title, *output.fields(pairs), *(table if rows else [])]


def _plain_dates(row: dict[str, Any]) -> dict[str, Any]:
    """Dates as ISO text, so `--json` and the tables read them alike."""
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}


def cmd_invoices(settings: Settings, args: argparse.Namespace) -> int:
    from admin_api import invoices
    from admin_api.paging import Paging

    async def work(pool: Any) -> Any:
        async with pool.acquire() as conn:
            if args.action == "list":
                filters = {
                    "billing_profile_id": args.profile,
                    "customer_id": args.customer,
                    "status": args.status,
                    "kind": args.kind,
                }
                page = Paging(args.limit, args.cursor)
                items, cursor = await invoices.list_invoices(conn, filters, page)
                return {"items": [_plain_dates(i) for i in items], "next_cursor": cursor}
            found = await invoices.get_invoice(conn, args.id)
            if args.action == "show":
                return _plain_dates(found)
            return await invoices.document_bytes(conn, settings, args.id, args.format)

    result = _with_pool(settings, work)
    if args.action == "list":
        output.emit(result, invoices_lines, args.json)
    elif args.action == "show":
        output.emit(result, invoice_lines, args.json)
    else:
        content, _ = result
        if args.output is None:
            sys.stdout.buffer.write(content)
        else:
            args.output.write_bytes(content)
            print(f"wrote {args.output} ({len(content)} bytes)", file=sys.stderr)
    return 0


# -- tarif payments add ----------------------------------------------------------------------


def payment_lines(payment: dict[str, Any]) -> list[str]:
    currency = payment["currency"]
    verb = "recorded before (nothing new)" if payment["replayed"] else "recorded"
    lines = [
        f"payment {payment['id']} {verb}: {payment['kind']} of"
        f" {_money(payment['amount'], currency)} by {payment['method']}"
    ]
    for a in payment["allocations"]:
        lines.append(f"  paid {_money(a['amount'], currency)} of invoice {a['number']}")
    if payment["to_credit"] and payment["to_credit"] not in ("0", "0.00"):
        lines.append(f"  {_money(payment['to_credit'], currency)} to credit balance")
    return lines


def cmd_payments(settings: Settings, args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from admin_api import payments
    from admin_api.auth import Principal, Role
    from admin_api.schemas import PaymentNew

    try:
        body = PaymentNew(
            request_id=args.request_id or f"cli-{uuid.uuid4()}",
            kind=args.kind,
            method=args.method,
            amount=args.amount,
            currency=args.currency,
            reference=args.reference,
            note=args.note,
            invoice_id=args.invoice,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        print(f"tarif: {'.'.join(map(str, first['loc']))}: {first['msg']}", file=sys.stderr)
        return 2
    who = Principal(0, "cli", Role.ADMIN)

    async def work(pool: Any) -> Any:
        async with pool.acquire() as conn:
            return _plain_dates(await payments.record(conn, who, args.profile, body))

    output.emit(_with_pool(settings, work), payment_lines, args.json)
    return 0


def add_parsers(sub: Any, answers: argparse.ArgumentParser) -> None:
    """The billing commands of `tarif` (main.py)."""
    billing = sub.add_parser("billing", help="billing runs")
    actions = billing.add_subparsers(dest="action", required=True)
    runner = actions.add_parser(
        "run", parents=[answers], help="bill every profile whose cycle ended (exit 1: a failure)"
    )
    runner.add_argument(
        "--at", type=datetime.fromisoformat, help='the "process now" time (ISO 8601 with zone)'
    )
    runner.set_defaults(func=cmd_billing_run)

    bills = sub.add_parser("bills", help="a billing profile's bills")
    bill_actions = bills.add_subparsers(dest="action", required=True)
    listing = bill_actions.add_parser("list", parents=[answers], help="newest first")
    listing.add_argument("--profile", type=int, required=True, help="billing profile id")
    listing.add_argument("--status", choices=["inactive", "active", "billing", "closed"])
    _paged(listing)
    listing.set_defaults(func=cmd_bills)

    invoices = sub.add_parser("invoices", help="invoices and credit notes")
    invoice_actions = invoices.add_subparsers(dest="action", required=True)
    listing = invoice_actions.add_parser("list", parents=[answers], help="newest first")
    listing.add_argument("--profile", type=int, help="billing profile id")
    listing.add_argument("--customer", type=int, help="customer id")
    listing.add_argument("--status", choices=["failed", "billing", "closed"])
    listing.add_argument("--kind", choices=["invoice", "credit_note"])
    _paged(listing)
    show = invoice_actions.add_parser("show", parents=[answers], help="one, with its lines")
    show.add_argument("id", type=int)
    document = invoice_actions.add_parser("document", help="its document (stdout or -o FILE)")
    document.add_argument("id", type=int)
    document.add_argument("--format", default="pdf", help="json, html, pdf, facturx, ubl, cii")
    document.add_argument("-o", "--output", type=Path, help="write to this file")
    invoices.set_defaults(func=cmd_invoices)

    payments = sub.add_parser("payments", help="payments of a billing profile")
    payment_actions = payments.add_subparsers(dest="action", required=True)
    add = payment_actions.add_parser("add", parents=[answers], help="record a payment or refund")
    add.add_argument("--profile", type=int, required=True, help="billing profile id")
    add.add_argument("--amount", required=True, help='e.g. "12.20"')
    add.add_argument("--currency", required=True)
    add.add_argument(
        "--method", required=True, choices=["cash", "credit_card", "transfer", "direct_debit"]
    )
    add.add_argument("--kind", default="charge", choices=["charge", "refund"])
    add.add_argument("--invoice", type=int, help="the invoice paid (default: the oldest due)")
    add.add_argument("--reference", default="")
    add.add_argument("--note", default="")
    add.add_argument("--request-id", help="idempotency key (default: a new one)")
    add.set_defaults(func=cmd_payments)


def _paged(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--cursor", help="next page: the cursor printed after the last")
