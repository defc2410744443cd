"""`tarif provision FILE`: a catalog and accounts into Redis, contacts and customers into Postgres.

Everything in the file is validated before anything is written. Customers go through the admin
API's own onboarding (Postgres first, then the outbox relay to Redis), once per account id, so
loading the same file again leaves live balances alone.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tarif_cli import output
from tarif_cli.connections import run, with_urls
from tarif_cli.progress import reporting
from tarif_common.embedded import embedded_services
from tarif_common.errors import ProvisioningError
from tarif_common.progress import NO_PROGRESS, Progress
from tarif_common.settings import Settings
from tarif_postgres import queries

Q = queries.load("cli")

# What the counts of a provisioning answer are, for people, in the order they are shown.
_COUNTED = {
    "accounts": "accounts",
    "sharing_groups": "sharing groups",
    "contacts": "contacts",
    "customers": "customers",
}


async def provision(
    settings: Settings, path: Path, progress: Progress = NO_PROGRESS
) -> dict[str, int]:
    """Load `path`; returns the catalog version published (0: none) and what was loaded.
    `progress` hears of each account, group, account's contacts and customer written."""
    from tarif_balances.provisioning import Provisioner, load_document, parse_document
    from tarif_common.redis_client import connect

    assert settings.redis_url is not None
    document = load_document(path)
    accounts = parse_document(document).accounts  # validated before anything is written
    redis = connect(settings.redis_url)
    try:
        done = await Provisioner(redis, settings.partitions).apply(document, progress)
    finally:
        await redis.aclose()
    if settings.database_url and document.get("catalog"):
        await _keep_catalog(settings.database_url, document["catalog"])
    with_contacts = [a for a in accounts if a.contacts is not None]
    if with_contacts and settings.database_url:
        from tarif_notifications.store import Contact, put_contacts
        from tarif_postgres import db

        await db.migrate_url(settings.database_url)
        pool = await db.create_pool(settings.database_url, max_size=2)
        try:
            progress.start("saved the contacts of", "accounts", len(with_contacts))
            async with pool.acquire() as conn:
                for account in with_contacts:
                    await put_contacts(
                        conn, account.id, [Contact.of(c) for c in account.contacts or []]
                    )
                    progress.advance()
            progress.done()
        finally:
            await pool.close()
        done["contacts"] = sum(len(a.contacts or []) for a in with_contacts)
    customers = parse_document(document).customers
    if customers:
        if not settings.database_url:
            raise ProvisioningError("customers go to Postgres: set DATABASE_URL (or let it embed)")
        done["customers"] = await _onboard(settings, customers, progress)
    return done


async def _onboard(settings: Settings, documents: list[dict[str, Any]], progress: Progress) -> int:
    """Onboard each customer that does not exist yet (by account_id); returns how many exist."""
    from pydantic import ValidationError

    from admin_api import customers
    from admin_api.app import balance_store
    from admin_api.auth import SYSTEM
    from admin_api.outbox import Relay
    from admin_api.schemas import Onboarding
    from tarif_billing import purchasing
    from tarif_common.redis_client import connect
    from tarif_postgres import db

    requests = []
    for i, document in enumerate(documents):
        try:
            requests.append(Onboarding.model_validate(document))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ProvisioningError(f"customers[{i}].{where}: {first['msg']}") from None
        if requests[-1].account_id is None:
            raise ProvisioningError(f"customers[{i}].account_id: required in a file")
    assert settings.database_url is not None
    assert settings.redis_url is not None
    await db.migrate_url(settings.database_url)
    pool = await db.create_pool(settings.database_url, max_size=2)
    redis = connect(settings.redis_url)
    try:
        relay = Relay(pool, redis, settings.partitions)
        store = balance_store(redis, settings)
        progress.start("onboarded", "customers", len(requests))
        async with pool.acquire() as conn:
            for request in requests:
                if not await conn.fetchval(Q.account_has_customer, request.account_id):
                    _, account_id, payments = await customers.onboard(
                        conn, redis, SYSTEM, request, creditor_id=settings.sepa_creditor_id
                    )
                    await relay.drain_one("account", account_id, conn)
                    for adjustment_id in payments:
                        await purchasing.settle(pool, store, adjustment_id)
                    await relay.drain_one("account", account_id, conn)
                progress.advance()  # one that existed already is done too
        progress.done()
    finally:
        await redis.aclose()
        await pool.close()
    return len(requests)


async def _keep_catalog(database_url: str, document: dict[str, Any]) -> None:
    """Postgres keeps every catalog the engines run (a new version only if it changed)."""
    from tarif_postgres import db

    await db.migrate_url(database_url)
    pool = await db.create_pool(database_url, max_size=1)
    try:
        async with pool.acquire() as conn:
            latest = await conn.fetchval(Q.latest_catalog_document)
            as_stored = json.loads(json.dumps(document, default=str))
            if latest != as_stored:
                await conn.execute(Q.keep_catalog_version, as_stored, "tarif provision")
    finally:
        await pool.close()


def provision_lines(document: dict[str, Any]) -> list[str]:
    version = document.get("catalog_version", 0)
    catalog = f"catalog version {version}" if version else "no catalog"
    counts = [f"{document[key]} {name}" for key, name in _COUNTED.items() if key in document]
    return [f"provisioned {document['file']}: {', '.join([catalog, *counts])}"]


def cmd_provision(settings: Settings, args: argparse.Namespace) -> int:
    with embedded_services(settings) as urls, reporting() as progress:
        done = run(provision(with_urls(settings, urls), args.file, progress))
    output.emit({"file": str(args.file), **done}, provision_lines, args.json)
    return 0
