"""The `tarif` command: run processes, provision, and talk to a running engine.

tarif up                  embedded (or configured) Redis + Postgres, demo data, engine
tarif engine [--workers N] the charging engine (gRPC + /metrics)
tarif provision FILE      load a catalog and accounts (YAML or JSON) into Redis
tarif event SUB SERVICE   send one ChargeEvent to a running engine
tarif balances SUB        show a subscriber's balances
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from tarif_common import logs
from tarif_common.embedded import embedded_services
from tarif_common.errors import TarifError
from tarif_common.settings import Settings

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo.yaml"


def _run(main: Coroutine[Any, Any, Any]) -> Any:
    import uvloop

    return uvloop.run(main)


async def _serve(settings: Settings, banner: str | None = None, workers: int = 1) -> int:
    """Run an engine here and `workers - 1` more as child processes on the same gRPC port.

    The gRPC server sets SO_REUSEPORT, so the kernel spreads connections over the processes;
    worker i serves its metrics on the metrics port + i. If a worker dies, all stop.
    """
    from engine.app import App, split_addr

    children = await _start_workers(settings, workers - 1)
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
    from engine.app import split_addr

    host, port = split_addr(settings.metrics_addr)
    children = []
    for i in range(1, count + 1):
        env = os.environ | {
            "REDIS_URL": settings.redis_url or "",
            "TARIF_GRPC_ADDR": settings.grpc_addr,
            "TARIF_METRICS_ADDR": f"{host}:{port + i}",
        }
        children.append(
            await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tarif_common.cli", "engine", env=env
            )
        )
    return children


async def _provision(settings: Settings, path: Path) -> dict[str, int]:
    from redis.asyncio import Redis

    from engine.provisioning import Provisioner, load_document

    assert settings.redis_url is not None
    redis = Redis.from_url(settings.redis_url)
    try:
        return await Provisioner(redis, settings.partitions).apply(load_document(path))
    finally:
        await redis.aclose()


def cmd_engine(settings: Settings, args: argparse.Namespace) -> int:
    with embedded_services(settings, postgres=False) as urls:
        settings = settings.model_copy(update={"redis_url": urls.redis_url})
        code: int = _run(_serve(settings, workers=args.workers))
    return code


def cmd_provision(settings: Settings, args: argparse.Namespace) -> int:
    with embedded_services(settings, postgres=False) as urls:
        done = _run(
            _provision(settings.model_copy(update={"redis_url": urls.redis_url}), args.file)
        )
    print(json.dumps(done))
    return 0


def _embedded(name: str, started: tuple[str, ...]) -> str:
    return " (embedded)" if name in started else ""


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    with embedded_services(settings) as urls:
        settings = settings.model_copy(
            update={"redis_url": urls.redis_url, "database_url": urls.database_url}
        )
        done = _run(_provision(settings, args.demo))
        metrics_host = settings.metrics_addr.rpartition(":")[0]
        embedded = {name: " (embedded)" for name in urls.embedded}
        banner = "\n".join(
            [
                "Tarif is up.",
                f"  Redis:    {urls.redis_url}{embedded.get('redis', '')}",
                f"  Postgres: {urls.database_url}{embedded.get('postgres', '')}",
                f"  demo:     {done['accounts']} accounts from {args.demo}",
                f"  gRPC:     {settings.grpc_addr}  (ChargingService, health, reflection)",
                f"  metrics:  http://{metrics_host}:{{metrics_port}}/metrics",
                "  try:      .venv/bin/tarif event 38640111222 voice --units 60 \\",
                "                --attr destination=393331234567",
                "            .venv/bin/tarif balances 38640111222",
                "Ctrl-C stops everything.",
            ]
        )
        code: int = _run(_serve(settings, banner, args.workers))
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
    return top


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
