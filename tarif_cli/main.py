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
tarif admin serve         the REST admin API (also started by `tarif up`)
tarif admin create-key --role R   a new API key (printed once)
tarif sync [--pending]    rebuild Redis from Postgres (or apply the pending outbox rows)
tarif reconcile           list differences between Postgres and Redis
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from tarif_common import logs
from tarif_common.embedded import ServiceUrls, embedded_services
from tarif_common.errors import InvalidRequest, ProvisioningError, TarifError
from tarif_common.settings import Settings

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo.yaml"


def _run(main: Coroutine[Any, Any, Any]) -> Any:
    import uvloop

    return uvloop.run(main)


async def _serve(
    settings: Settings, banner: str | None = None, workers: int = 1, batch: bool = False
) -> int:
    """Run an engine here and `workers - 1` more as child processes on the same gRPC port,
    plus a billing_batch child if `batch`.

    The gRPC server sets SO_REUSEPORT, so the kernel spreads connections over the processes;
    worker i serves its metrics on the metrics port + i. If a child dies, all stop.
    """
    from engine.app import App
    from tarif_common.lifecycle import split_addr

    children = await _start_workers(settings, workers - 1)
    if batch:
        children.append(await _child(settings, "batch"))
        children.append(await _child(settings, "admin", "serve"))
    async with App(settings) as app:
        watchers = [asyncio.create_task(child.wait()) for child in children]
        for watcher in watchers:
            watcher.add_done_callback(lambda _: app.stop())
        if banner:
            print(banner.format(grpc_port=app.grpc_port, metrics_port=app.metrics_port), flush=True)
        if workers > 1:
            port = split_addr(settings.metrics_addr)[1]
            print(
                f"  workers:  {workers} (metrics on ports {port}-{port + workers - 1})", flush=True
            )
        await app.serve_until_stopped()
    failed = [child.returncode for child in children if child.returncode not in (None, 0)]
    if app.failed:
        failed.append(1)
    for child in children:
        if child.returncode is None:
            child.terminate()
    codes = [await child.wait() for child in children]
    return 1 if failed or any(code not in (0, -signal.SIGTERM) for code in codes) else 0


async def _start_workers(settings: Settings, count: int) -> list[asyncio.subprocess.Process]:
    from tarif_common.lifecycle import split_addr

    host, port = split_addr(settings.metrics_addr)
    return [
        await _child(settings, "engine", TARIF_METRICS_ADDR=f"{host}:{port + i}")
        for i in range(1, count + 1)
    ]


async def _child(settings: Settings, *command: str, **env: str) -> asyncio.subprocess.Process:
    """A `tarif <command>` child process on the same servers."""
    urls = {"REDIS_URL": settings.redis_url or "", "TARIF_GRPC_ADDR": settings.grpc_addr}
    if settings.database_url:
        urls["DATABASE_URL"] = settings.database_url
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tarif_cli.main", *command, env=os.environ | urls | env
    )


async def _provision(settings: Settings, path: Path) -> dict[str, int]:
    from redis.asyncio import Redis

    from tarif_balances.provisioning import Provisioner, load_document, parse_document

    assert settings.redis_url is not None
    document = load_document(path)
    accounts = parse_document(document).accounts  # validated before anything is written
    redis = Redis.from_url(settings.redis_url)
    try:
        done = await Provisioner(redis, settings.partitions).apply(document)
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
            async with pool.acquire() as conn:
                for account in with_contacts:
                    await put_contacts(
                        conn,
                        account.id,
                        [Contact(c.tag, c.email, c.phone) for c in account.contacts or []],
                    )
        finally:
            await pool.close()
        done["contacts"] = sum(len(a.contacts or []) for a in with_contacts)
    customers = parse_document(document).customers
    if customers:
        if not settings.database_url:
            raise ProvisioningError("customers go to Postgres: set DATABASE_URL (or let it embed)")
        done["customers"] = await _onboard(settings, customers)
    return done


async def _onboard(settings: Settings, documents: list[dict[str, Any]]) -> int:
    """Onboard each customer that does not exist yet (by account_id); returns how many exist."""
    from pydantic import ValidationError
    from redis.asyncio import Redis

    from admin_api import customers, purchases
    from admin_api.app import balance_store
    from admin_api.auth import SYSTEM
    from admin_api.outbox import Relay
    from admin_api.schemas import Onboarding
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
    redis = Redis.from_url(settings.redis_url)
    try:
        relay = Relay(pool, redis, settings.partitions)
        store = balance_store(redis, settings)
        async with pool.acquire() as conn:
            for request in requests:
                exists = await conn.fetchval(
                    "SELECT 1 FROM customers WHERE account_id = $1", request.account_id
                )
                if not exists:
                    _, account_id, payments = await customers.onboard(conn, redis, SYSTEM, request)
                    await relay.drain_one("account", account_id, conn)
                    for adjustment_id in payments:
                        await purchases.settle(pool, store, adjustment_id)
                    await relay.drain_one("account", account_id, conn)
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
            latest = await conn.fetchval(
                "SELECT document FROM catalog_versions ORDER BY version DESC LIMIT 1"
            )
            if latest != json.loads(json.dumps(document, default=str)):
                await conn.execute(
                    "INSERT INTO catalog_versions (document, published_by) VALUES ($1, $2)",
                    json.loads(json.dumps(document, default=str)),
                    "tarif provision",
                )
    finally:
        await pool.close()


def cmd_engine(settings: Settings, args: argparse.Namespace) -> int:
    with embedded_services(settings, postgres=False) as urls:
        settings = settings.model_copy(update={"redis_url": urls.redis_url})
        code: int = _run(_serve(settings, workers=args.workers))
    return code


def _with_urls(settings: Settings, urls: ServiceUrls) -> Settings:
    return settings.model_copy(
        update={"redis_url": urls.redis_url, "database_url": urls.database_url}
    )


def cmd_provision(settings: Settings, args: argparse.Namespace) -> int:
    with embedded_services(settings) as urls:
        done = _run(_provision(_with_urls(settings, urls), args.file))
    print(json.dumps(done))
    return 0


def cmd_batch(settings: Settings, args: argparse.Namespace) -> int:
    from billing_batch.app import BatchApp

    async def serve(settings: Settings) -> int:
        async with BatchApp(settings) as app:
            await app.serve_until_stopped()
        return 1 if app.failed else 0

    with embedded_services(settings) as urls:
        code: int = _run(serve(_with_urls(settings, urls)))
    return code


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from tarif_postgres import db

    with embedded_services(settings) as urls:
        assert urls.database_url is not None
        applied = _run(db.migrate_url(urls.database_url))
    print(json.dumps({"applied": applied}))
    return 0


async def _with_pool(settings: Settings, work: Callable[[Any], Awaitable[Any]]) -> Any:
    from tarif_postgres import db

    assert settings.database_url is not None
    await db.migrate_url(settings.database_url)
    pool = await db.create_pool(settings.database_url, max_size=2)
    try:
        return await work(pool)
    finally:
        await pool.close()


def cmd_notifications(settings: Settings, args: argparse.Namespace) -> int:
    from tarif_notifications.store import list_notifications

    async def work(pool: Any) -> Any:
        async with pool.acquire() as conn:
            who = (
                {"account_id": args.subscriber} if args.account else {"subscriber": args.subscriber}
            )
            return await list_notifications(conn, **who, before_id=args.before, limit=args.limit)

    with embedded_services(settings) as urls:
        listed = _run(_with_pool(_with_urls(settings, urls), work))
    print(json.dumps(listed, indent=2, default=str))
    return 0


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
                set_attributes=dict(_pairs(args.attr)),
                remove_attributes=args.remove_attr,
            )

    with embedded_services(settings) as urls:
        result = _run(_with_pool(_with_urls(settings, urls), work))
    print(json.dumps(result, indent=2, default=str))
    return 0


def cmd_admin(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "serve":
        from admin_api.app import AdminProcess

        async def serve(settings: Settings) -> int:
            async with AdminProcess(settings) as admin:
                print(f"admin API on http://{settings.admin_addr.rpartition(':')[0]}:{admin.port}")
                await admin.serve_until_stopped()
            return 1 if admin.failed else 0

        with embedded_services(settings) as urls:
            code: int = _run(serve(_with_urls(settings, urls)))
        return code
    from admin_api.auth import Role, create_key

    async def work(pool: Any) -> Any:
        async with pool.acquire() as conn:
            return await create_key(conn, Role(args.role), args.name)

    with embedded_services(settings) as urls:
        key, prefix = _run(_with_pool(_with_urls(settings, urls), work))
    print(json.dumps({"key": key, "prefix": prefix, "role": args.role}))
    return 0


def cmd_sync(settings: Settings, args: argparse.Namespace) -> int:
    from redis.asyncio import Redis

    from admin_api.outbox import Relay, reconcile

    async def work(pool: Any) -> Any:
        assert settings.redis_url is not None
        redis = Redis.from_url(settings.redis_url)
        try:
            relay = Relay(pool, redis, settings.partitions)
            if args.command == "reconcile":
                return {"differences": await reconcile(pool, redis, settings.partitions)}
            if args.pending:
                return {"applied": await relay.drain(10_000)}
            return await relay.sync_all()
        finally:
            await redis.aclose()

    with embedded_services(settings) as urls:
        settings = _with_urls(settings, urls)
        result = _run(_with_pool(settings, work))
    print(json.dumps(result, indent=2, default=str))
    return 1 if result.get("differences") else 0


def _pairs(items: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise InvalidRequest("--attr", f"{item!r} is not name=value")
        pairs.append((name, value))
    return pairs


def _embedded(name: str, started: tuple[str, ...]) -> str:
    return " (embedded)" if name in started else ""


async def _demo_key(pool: Any) -> str:
    from admin_api.auth import Role, create_key

    async with pool.acquire() as conn:
        key, _ = await create_key(conn, Role.ADMIN, "tarif up")
    return key


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    with embedded_services(settings) as urls:
        settings = _with_urls(settings, urls)
        done = _run(_provision(settings, args.demo))
        admin_key = _run(_with_pool(settings, _demo_key))
        metrics_host = settings.metrics_addr.rpartition(":")[0]
        embedded = {name: " (embedded)" for name in urls.embedded}
        banner = "\n".join(
            [
                "Tarif is up.",
                f"  Redis:    {urls.redis_url}{embedded.get('redis', '')}",
                f"  Postgres: {urls.database_url}{embedded.get('postgres', '')}",
                f"  demo:     {done.get('customers', 0)} customers from {args.demo}",
                f"  gRPC:     {settings.grpc_addr}  (ChargingService, health, reflection)",
                f"  metrics:  http://{metrics_host}:{{metrics_port}}/metrics",
                f"  batch:    ingestion + notifier, metrics http://{settings.batch_metrics_addr}"
                "/metrics",
                f"  admin:    http://{settings.admin_addr}/docs  (REST, OpenAPI at /openapi.json)",
                f"  admin key: {admin_key}  (X-API-Key header; role admin)",
                "  try:      .venv/bin/tarif event 38640111222 voice --units 60 \\",
                "                --attr destination=393331234567",
                "            .venv/bin/tarif balances 38640111222",
                "Ctrl-C stops everything.",
            ]
        )
        code: int = _run(_serve(settings, banner, args.workers, batch=True))
    return code


async def _client_call(settings: Settings, method: str, request: Any) -> Any:
    import grpc

    from tarif.charging.v1 import charging_pb2_grpc

    async with grpc.aio.insecure_channel(settings.grpc_addr) as channel:
        stub = charging_pb2_grpc.ChargingServiceStub(channel)
        return await getattr(stub, method)(request, timeout=5)


def _print_message(message: Any) -> None:
    from google.protobuf.json_format import MessageToDict

    print(json.dumps(MessageToDict(message, preserving_proto_field_name=True), indent=2))


def cmd_event(settings: Settings, args: argparse.Namespace) -> int:
    from tarif.charging.v1 import charging_pb2 as pb

    attributes = dict(item.split("=", 1) for item in args.attr)
    request = pb.EventRequest(
        subscriber=args.subscriber,
        service=args.service,
        event_id=args.event_id or uuid.uuid4().hex,
        units=args.units,
        attributes=attributes,
    )
    request.event_time.GetCurrentTime()
    _print_message(_run(_client_call(settings, "ChargeEvent", request)))
    return 0


def cmd_balances(settings: Settings, args: argparse.Namespace) -> int:
    from tarif.charging.v1 import charging_pb2 as pb

    _print_message(
        _run(_client_call(settings, "GetBalances", pb.BalanceQuery(subscriber=args.subscriber)))
    )
    return 0


def parser() -> argparse.ArgumentParser:
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
    prov = sub.add_parser("provision", help="load a catalog and accounts into Redis")
    prov.add_argument("file", type=Path)
    prov.set_defaults(func=cmd_provision)
    event = sub.add_parser("event", help="send one ChargeEvent to the engine")
    event.add_argument("subscriber")
    event.add_argument("service")
    event.add_argument("--units", type=int, default=1)
    event.add_argument("--event-id")
    event.add_argument("--attr", action="append", default=[], help="rating field, name=value")
    event.set_defaults(func=cmd_event)
    bal = sub.add_parser("balances", help="show a subscriber's balances")
    bal.add_argument("subscriber")
    bal.set_defaults(func=cmd_balances)
    sub.add_parser("batch", help="run billing_batch (ingestion, notifier)").set_defaults(
        func=cmd_batch
    )
    sub.add_parser("migrate", help="apply the Postgres migrations").set_defaults(func=cmd_migrate)
    notes = sub.add_parser("notifications", help="a subscriber's notifications")
    notes.add_argument("subscriber")
    notes.add_argument("--account", action="store_true", help="the argument is an account id")
    notes.add_argument("--before", type=int, help="next page: the last id seen")
    notes.add_argument("--limit", type=int, default=50)
    notes.set_defaults(func=cmd_notifications)
    _unrated_parser(sub.add_parser("unrated", help="unratable usage: list, correct, re-rate"))
    admin = sub.add_parser("admin", help="the REST admin API")
    admin.set_defaults(func=cmd_admin)
    admin_actions = admin.add_subparsers(dest="action", required=True)
    admin_actions.add_parser("serve", help="run it")
    key = admin_actions.add_parser("create-key", help="a new API key, printed once")
    key.add_argument("--role", required=True, choices=["admin", "operator", "auditor"])
    key.add_argument("--name", default="")
    sync = sub.add_parser("sync", help="rebuild Redis from Postgres")
    sync.add_argument("--pending", action="store_true", help="only the pending outbox rows")
    sync.set_defaults(func=cmd_sync)
    sub.add_parser("reconcile", help="Postgres vs Redis differences").set_defaults(func=cmd_sync)
    return top


def _unrated_parser(unrated: argparse.ArgumentParser) -> None:
    unrated.set_defaults(func=cmd_unrated)
    actions = unrated.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="oldest first")
    listing.add_argument("--status", choices=["open", "corrected", "rerated", "rejected"])
    listing.add_argument("--reason")
    listing.add_argument("--subscriber")
    listing.add_argument("--after", type=int, help="next page: the last id seen")
    listing.add_argument("--limit", type=int, default=100)
    actions.add_parser("show").add_argument("id", type=int)
    fix = actions.add_parser("correct", help="fix the identifier, service or rating fields")
    fix.add_argument("id", type=int)
    fix.add_argument("--subscriber", help="the right service identifier")
    fix.add_argument("--service")
    fix.add_argument("--attr", action="append", default=[], help="set a rating field, name=value")
    fix.add_argument("--remove-attr", action="append", default=[], help="drop a rating field")
    actions.add_parser("rerate", help="charge it through the engine (once)").add_argument(
        "id", type=int
    )


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
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
