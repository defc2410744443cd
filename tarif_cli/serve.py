"""The long-running commands: `tarif up`, `tarif engine`, `tarif batch`, `tarif admin serve`."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from tarif_cli.connections import run, with_pool, with_urls
from tarif_cli.provision import provision
from tarif_common import heap
from tarif_common.embedded import embedded_services
from tarif_common.settings import Settings

# examples/demo.yaml, through a link in the package so that an installed wheel carries it too
DEMO = Path(__file__).resolve().parent / "demo.yaml"


async def _serve(
    settings: Settings, banner: str | None = None, workers: int = 1, batch: bool = False
) -> int:
    """Run an engine here and `workers - 1` more as child processes on the same gRPC port,
    plus a billing_batch child if `batch`.

    The gRPC server sets SO_REUSEPORT, so the kernel spreads connections over the processes;
    the other workers serve their metrics on the ports after the metrics port (passing over the
    batch's and the admin API's when they run too). If a child dies, all stop.
    """
    from engine.app import App
    from tarif_common.lifecycle import split_addr

    ports = worker_metrics_ports(settings, workers - 1, batch)
    children = await _start_workers(settings, ports)
    if batch:
        children.append(await _child(settings, "batch"))
        children.append(await _child(settings, "admin", "serve"))
    async with App(settings) as app:
        heap.settle()  # start-up's objects out of the collector's scans (tarif_common.heap)
        watchers = [asyncio.create_task(child.wait()) for child in children]
        for watcher in watchers:
            watcher.add_done_callback(lambda _: app.stop())
        if banner:
            print(banner.format(grpc_port=app.grpc_port, metrics_port=app.metrics_port), flush=True)
        if workers > 1:
            port = split_addr(settings.metrics_addr)[1]
            listed = ", ".join(str(p) for p in [port, *ports])
            print(f"  workers:  {workers} (metrics on ports {listed})", flush=True)
        await app.serve_until_stopped()
    failed = [child.returncode for child in children if child.returncode not in (None, 0)]
    if app.failed:
        failed.append(1)
    for child in children:
        if child.returncode is None:
            child.terminate()
    codes = [await child.wait() for child in children]
    return 1 if failed or any(code not in (0, -signal.SIGTERM) for code in codes) else 0


def worker_metrics_ports(settings: Settings, count: int, batch: bool) -> list[int]:
    """The metrics ports of `count` more engine workers: the ports after the metrics port, but
    not the batch's or the admin API's when `tarif up` runs them too (the batch's default is
    the engine's + 1)."""
    from tarif_common.lifecycle import split_addr

    port = split_addr(settings.metrics_addr)[1]
    taken = set()
    if batch:
        taken = {split_addr(settings.batch_metrics_addr)[1], split_addr(settings.admin_addr)[1]}
    ports: list[int] = []
    while len(ports) < count:
        port += 1
        if port not in taken:
            ports.append(port)
    return ports


async def _start_workers(settings: Settings, ports: list[int]) -> list[asyncio.subprocess.Process]:
    from tarif_common.lifecycle import split_addr

    host = split_addr(settings.metrics_addr)[0]
    return [await _child(settings, "engine", TARIF_METRICS_ADDR=f"{host}:{p}") for p in ports]


async def _child(settings: Settings, *command: str, **env: str) -> asyncio.subprocess.Process:
    """A `tarif <command>` child process on the same servers."""
    urls = {"REDIS_URL": settings.redis_url or "", "TARIF_GRPC_ADDR": settings.grpc_addr}
    if settings.database_url:
        urls["DATABASE_URL"] = settings.database_url
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tarif_cli.main", *command, env=os.environ | urls | env
    )


def cmd_engine(settings: Settings, args: argparse.Namespace) -> int:
    with embedded_services(settings, postgres=False) as urls:
        settings = settings.model_copy(update={"redis_url": urls.redis_url})
        code: int = run(_serve(settings, workers=args.workers))
    return code


def cmd_batch(settings: Settings, args: argparse.Namespace) -> int:
    from billing_batch.app import BatchApp

    async def serve(settings: Settings) -> int:
        async with BatchApp(settings) as app:
            await app.serve_until_stopped()
        return 1 if app.failed else 0

    with embedded_services(settings) as urls:
        code: int = run(serve(with_urls(settings, urls)))
    return code


def cmd_admin_serve(settings: Settings, args: argparse.Namespace) -> int:
    from admin_api.app import AdminProcess

    async def serve(settings: Settings) -> int:
        async with AdminProcess(settings) as admin:
            print(f"admin API on http://{settings.admin_addr.rpartition(':')[0]}:{admin.port}")
            await admin.serve_until_stopped()
        return 1 if admin.failed else 0

    with embedded_services(settings) as urls:
        code: int = run(serve(with_urls(settings, urls)))
    return code


async def _demo_key(pool: Any) -> str:
    from admin_api.auth import Role, create_key

    async with pool.acquire() as conn:
        key, _ = await create_key(conn, Role.ADMIN, "tarif up")
    return key


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    with embedded_services(settings) as urls:
        settings = with_urls(settings, urls)
        done = run(provision(settings, args.demo))
        admin_key = run(with_pool(settings, _demo_key))
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
                f"  batch:    ingestion, notifier, jobs; metrics http://{settings.batch_metrics_addr}"
                "/metrics (/healthz, /readyz)",
                f"  admin:    http://{settings.admin_addr}/docs  (REST, OpenAPI at /openapi.json;"
                " /healthz, /readyz, /metrics)",
                f"  admin key: {admin_key}  (X-API-Key header; role admin)",
                "  try:      .venv/bin/tarif event 38640111222 voice --units 60 \\",
                "                --attr destination=393331234567",
                "            .venv/bin/tarif balances 38640111222",
                "Ctrl-C stops everything.",
            ]
        )
        code: int = run(_serve(settings, banner, args.workers, batch=True))
    return code
