"""`tarif notifications` and `tarif unrated`: the back office's records, read and worked on
through the same functions as the admin API, so `--json` prints the API's documents.

Amounts in them are already exact decimal strings in their unit (notifications carry their
resource's unit and decimals; an unrated event's cost is stored in its currency); the usage
of an unrated event is counted in its service type's unit, which the running catalog names.
"""

from __future__ import annotations

import argparse
from typing import Any

from tarif_cli import output
from tarif_cli.connections import run, running_measures, with_pool, with_urls
from tarif_cli.quantities import Measures
from tarif_common.embedded import embedded_services
from tarif_common.settings import Settings

# -- notifications ---------------------------------------------------------------------------


def notifications_lines(document: list[dict[str, Any]], limit: int | None = None) -> list[str]:
    """One block per notification, newest first: what crossed which level, then each delivery."""
    if not document:
        return ["no notifications"]
    lines: list[str] = []
    for n in document:
        lines.append(
            f"#{n['id']}  {output.when(n['fired_at'])}  {n['subscriber']} (account"
            f" {n['account_id']})  {n['type']} ({n['threshold']}): {n['resource']} {n['direction']}"
            " through"
            f" {output.quantity(n['threshold_value'], n['unit'])}, now"
            f" {output.quantity(n['value'], n['unit'])}"
        )
        rows = [
            [
                d["channel"],
                output.text(d["recipient"]),
                d["status"],
                f"{d['attempts']} attempt{'' if d['attempts'] == 1 else 's'}",
                output.text(d["last_error"]),
            ]
            for d in n.get("deliveries", [])
        ]
        if rows:
            table = output.table(["channel", "recipient", "status", "attempts", "detail"], rows)
            lines += [f"    {line}" for line in table]
        else:
            lines.append("    no deliveries")
    if limit is not None and len(document) >= limit:
        lines.append(f"more: --before {document[-1]['id']}")
    return lines


def cmd_notifications(settings: Settings, args: argparse.Namespace) -> int:
    from tarif_notifications.store import list_notifications

    async def work(pool: Any) -> Any:
        async with pool.acquire() as conn:
            who = (
                {"account_id": args.subscriber} if args.account else {"subscriber": args.subscriber}
            )
            return await list_notifications(conn, **who, before_id=args.before, limit=args.limit)

    with embedded_services(settings) as urls:
        listed = run(with_pool(with_urls(settings, urls), work))
    output.emit(listed, lambda d: notifications_lines(d, args.limit), args.json)
    return 0


# -- unratable usage -------------------------------------------------------------------------


def with_unit(row: dict[str, Any], measures: Measures | None) -> dict[str, Any]:
    """An unrated event with the unit its `units` are counted in (None: unknown service)."""
    unit = measures.service(row["service"]).unit if measures is not None else None
    return {**row, "unit": unit}


def _units(row: dict[str, Any]) -> str:
    return output.quantity(str(row["units"]), row["unit"])


def _cost(row: dict[str, Any]) -> str:
    return output.quantity(row["cost"], row["currency"])


def unrated_list_lines(document: list[dict[str, Any]], limit: int | None = None) -> list[str]:
    if not document:
        return ["no unrated events"]
    rows = [
        [
            str(r["id"]),
            output.when(r["kept_at"]),
            r["status"],
            r["reason"],
            r["subscriber"],
            r["service"],
            _units(r),
            r["event_id"],
            output.text(r["result"]),
            _cost(r),
        ]
        for r in document
    ]
    headers = ["id", "kept at", "status", "reason", "subscriber", "service", "units", "event id"]
    lines = output.table([*headers, "result", "cost"], rows, right=[0, 6, 9])
    if limit is not None and len(document) >= limit:
        lines.append(f"more: --after {document[-1]['id']}")
    return lines


def _attributes(attributes: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((attributes or {}).items())) or output.NONE


def unrated_lines(row: dict[str, Any]) -> list[str]:
    """One unrated event: as it is now, what it was received as, what the engine answered."""
    pairs = [
        ("event id", row["event_id"]),
        ("reason", f"{row['reason']}: {row['message']}" if row["message"] else row["reason"]),
        ("subscriber", row["subscriber"]),
        ("service", row["service"]),
        ("units", _units(row)),
        ("attributes", _attributes(row["attributes"])),
        ("event time", output.when(row["event_time"])),
    ]
    if original := row["original"]:
        was = f"{original['subscriber']} {original['service']}"
        pairs.append(("received as", f"{was} ({_attributes(original['attributes'])})"))
    pairs.append(("corrections", str(row["corrections"])))
    if row["rerate_attempts"]:
        pairs.append(("re-rates", f"{row['rerate_attempts']} (last id {row['rerate_id']})"))
    if row["result"]:
        said = f": {row['result_message']}" if row["result_message"] else ""
        pairs.append(("engine said", f"{row['result']}{said}"))
    if row["cost"] is not None:
        pairs.append(("cost", _cost(row)))
    pairs += [("kept at", output.when(row["kept_at"])), ("updated", output.when(row["updated_at"]))]
    return [f"unrated event {row['id']} ({row['status']})", *output.fields(pairs)]


def cmd_unrated(settings: Settings, args: argparse.Namespace) -> int:
    from admin_api import unrated
    from tarif_client.engine import GrpcEngine

    async def work(pool: Any) -> Any:
        if args.action == "rerate":
            engine = GrpcEngine(settings.grpc_addr)
            try:
                return await unrated.rerate(pool, engine, args.id)
            finally:
                await engine.close()
        async with pool.acquire() as conn:
            if args.action == "list":
                return await unrated.list_unrated(
                    conn,
                    status=args.status,
                    reason=args.reason,
                    subscriber=args.subscriber,
                    after_id=args.after,
                    limit=args.limit,
                )
            if args.action == "show":
                return await unrated.get_unrated(conn, args.id)
            return await unrated.correct(
                conn,
                args.id,
                subscriber=args.subscriber,
                service=args.service,
                set_attributes=dict(args.attr),
                remove_attributes=args.remove_attr,
            )

    async def work_and_measures(settings: Settings) -> tuple[Any, Measures | None]:
        return await with_pool(settings, work), await running_measures(settings.redis_url)

    with embedded_services(settings) as urls:
        result, measures = run(work_and_measures(with_urls(settings, urls)))
    if args.action == "list":
        listed = [with_unit(row, measures) for row in result]
        output.emit(listed, lambda d: unrated_list_lines(d, args.limit), args.json)
    else:
        output.emit(with_unit(result, measures), unrated_lines, args.json)
    return 0
