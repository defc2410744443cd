"""`tarif trace EVENT [--subscriber S]`: one charge's path, as `GET /v1/usage/{event_id}/trace`
answers it (the engine's stored answer, the rated record with the request id of its call, the
bill item and the invoice line): the admin API's function over the engine's Redis and Postgres.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime
from typing import Any

from tarif_cli import output
from tarif_cli.connections import run, with_pool, with_urls
from tarif_common.embedded import embedded_services
from tarif_common.settings import Settings


def add_parser(sub: Any, answers: argparse.ArgumentParser) -> None:
    traced = sub.add_parser(
        "trace",
        parents=[answers],
        help="one charge's path: answer, rated record (request id), bill item, invoice line",
    )
    traced.add_argument("event_id", help="the event id (e: optional)")
    traced.add_argument(
        "--subscriber", help="its service identifier (without it every partition is read)"
    )
    traced.set_defaults(func=cmd_trace)


def plain(value: Any) -> Any:
    """Dates as ISO text, through nested documents (the JSON view has no date type)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return value


def _money(amount: str | None, currency: str) -> str:
    return output.NONE if amount is None else f"{amount} {currency}".rstrip()


def trace_lines(document: dict[str, Any]) -> list[str]:
    pairs = [("event", f"{document['event_id']} (account {document['account_id']})")]
    answer = document["answer"]
    if answer is None:
        pairs.append(("answer", "no longer kept by the engine"))
    else:
        kept = "no expiry" if answer["expires_in"] < 0 else f"kept {answer['expires_in']} s more"
        pairs.append(
            (
                "answer",
                f"{answer['result']}, cost {_money(answer['cost'], answer['currency'])},"
                f" refunded {_money(answer['refunded'], answer['currency'])}, {kept}",
            )
        )
    record = document["record"]
    if record is None:
        pairs.append(("record", "not in Postgres yet"))
    else:
        pairs += [
            ("record", f"{record['request_id']} ({record['kind']}) {record['service']}"
             f" ({record['rate'] or output.NONE}), units {record['units']},"
             f" cost {_money(record['cost'], record['currency'])}"),
            ("request id", output.text(record["x_request_id"])),
            ("charged", output.when(record["charged_at"])),
            ("stored", output.when(record["ingested_at"])),
        ]  # fmt: skip
    for refund in document["refunds"]:
        pairs.append(
            (
                "refund",
                f"{refund['request_id']} {_money(refund['cost'], refund['currency'])}"
                f" (request id {output.text(refund['x_request_id'])})",
            )
        )
    bill = document["bill"]
    if bill is not None:
        state = "took it" if document["billed"] else "not billed yet"
        invoice = bill["invoice_number"] or bill["invoice_status"] or output.NONE
        pairs.append(
            (
                "bill",
                f"{bill['id']} ({bill['kind']}, {bill['status']}, {state}),"
                f" {output.when(bill['period_start'])} to {output.when(bill['period_end'])},"
                f" invoice {invoice}",
            )
        )
    for item in document["bill_items"]:
        pairs.append(
            (
                "bill item",
                f"{item['id']} {item['description']}: {item['events']} records,"
                f" {item['amount']} {bill['currency'] if bill else ''}".rstrip(),
            )
        )
    for line in document["invoice_lines"]:
        pairs.append(
            (
                "invoice line",
                f"{line['invoice_number'] or line['invoice_id']} #{line['number']}"
                f" {line['description']}: net {line['net']} (bill item {line['bill_item_id']})",
            )
        )
    notes = [f"  - {note}" for note in document["notes"]]
    return output.fields(pairs) + (["notes:", *notes] if notes else [])


def cmd_trace(settings: Settings, args: argparse.Namespace) -> int:
    from admin_api import trace
    from admin_api.app import balance_store
    from tarif_common.redis_client import connect

    async def work(pool: Any) -> Any:
        assert settings.redis_url is not None
        redis = connect(settings.redis_url)
        try:
            async with pool.acquire() as conn:
                return await trace.trace(
                    conn, balance_store(redis, settings), args.event_id, args.subscriber
                )
        finally:
            await redis.aclose()

    with embedded_services(settings) as urls:
        settings = with_urls(settings, urls)
        document = plain(run(with_pool(settings, work)))
    output.emit(document, trace_lines, args.json)
    return 0
