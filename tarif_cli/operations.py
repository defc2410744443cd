"""Operators' commands: `tarif migrate`, `tarif admin create-key`, `tarif sync` and
`tarif reconcile`."""

from __future__ import annotations

import argparse
from typing import Any

from tarif_cli import output
from tarif_cli.connections import run, with_pool, with_urls
from tarif_cli.progress import reporting
from tarif_common.embedded import embedded_services
from tarif_common.settings import Settings


def migrate_lines(document: dict[str, Any]) -> list[str]:
    applied = document["applied"]
    if not applied:
        return ["the schema is up to date: no migration to apply"]
    return [f"applied {len(applied)} migrations: {', '.join(f'{v:04d}' for v in applied)}"]


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from tarif_postgres import db

    with embedded_services(settings) as urls:
        assert urls.database_url is not None
        applied = run(db.migrate_url(urls.database_url))
    output.emit({"applied": applied}, migrate_lines, args.json)
    return 0


def key_lines(document: dict[str, Any]) -> list[str]:
    return [
        f"a new API key with role {document['role']} (shown once, keep it now):",
        f"  {document['key']}",
        f"prefix {document['prefix']} (how logs and the audit name it)",
    ]


def cmd_create_key(settings: Settings, args: argparse.Namespace) -> int:
    from admin_api.auth import Role, create_key

    async def work(pool: Any) -> Any:
        async with pool.acquire() as conn:
            return await create_key(conn, Role(args.role), args.name)

    with embedded_services(settings) as urls:
        key, prefix = run(with_pool(with_urls(settings, urls), work))
    output.emit({"key": key, "prefix": prefix, "role": args.role}, key_lines, args.json)
    return 0


def sync_lines(document: dict[str, Any]) -> list[str]:
    if "applied" in document:
        return [f"applied {document['applied']} pending outbox rows"]
    return [
        f"Redis rebuilt from Postgres: the catalog, {document['accounts']} accounts,"
        f" {document['groups']} sharing groups"
    ]


def reconcile_lines(document: dict[str, Any]) -> list[str]:
    differences = document["differences"]
    lines: list[str]
    if not differences:
        lines = ["Postgres and Redis agree"]
    else:
        rows = [
            [d["account"], d["field"], output.text(d["postgres"]), output.text(d["redis"])]
            for d in differences
        ]
        lines = [
            f"{len(differences)} differences between Postgres and Redis "
            "(`tarif sync` repairs them):",
            *output.table(["account", "field", "postgres", "redis"], rows),
        ]
    billing = document.get("billing")
    if billing is None:
        return lines
    found = {check: rows for check, rows in billing.get("differences", {}).items() if rows}
    period = f"{billing.get('since')} to {billing.get('until')}"
    if not found:
        lines.append(
            f"billing adds up from {period}: rated usage = bills = invoices = payments, "
            "journal balanced"
        )
    for check, rows in found.items():
        lines.append(f"billing: {len(rows)} differences in {check}:")
        lines += [
            "  " + ", ".join(f"{key} {output.text(value)}" for key, value in row.items())
            for row in rows[:20]
        ]
    return lines


def _billing_differences(document: dict[str, Any]) -> bool:
    return any(document.get("billing", {}).get("differences", {}).values())


def cmd_sync(settings: Settings, args: argparse.Namespace) -> int:
    """`tarif sync [--pending]` and `tarif reconcile` (exit 1 when they differ)."""
    from admin_api.outbox import Relay, reconcile
    from tarif_billing.reconcile import reconcile_billing
    from tarif_common.redis_client import connect

    async def work(pool: Any) -> Any:
        assert settings.redis_url is not None
        redis = connect(settings.redis_url)
        try:
            relay = Relay(pool, redis, settings.partitions)
            if args.command == "reconcile":
                differences = await reconcile(pool, redis, settings.partitions, progress)
                async with pool.acquire() as conn:
                    billing = await reconcile_billing(conn, args.since, args.until)
                return {
                    "differences": differences,
                    "billing": {
                        "since": billing.since.isoformat(),
                        "until": billing.until.isoformat(),
                        "differences": billing.differences,
                    },
                }
            if args.pending:
                return {"applied": await relay.drain(10_000, progress)}
            return await relay.sync_all(progress)
        finally:
            await redis.aclose()

    with embedded_services(settings) as urls, reporting() as progress:
        settings = with_urls(settings, urls)
        result = run(with_pool(settings, work))
    human = reconcile_lines if args.command == "reconcile" else sync_lines
    output.emit(result, human, args.json)
    return 1 if result.get("differences") or _billing_differences(result) else 0
