"""Benchmark of the admin API on 100,000 customers: `python -m loadtest.admin_bench`.

Starts its own embedded Redis and Postgres in a temporary folder, loads the data set of
`loadtest.customers` (100k customers, a subscription and a service each), starts `tarif admin
serve` and `tarif engine` as subprocesses, then measures from one client on the same machine:

- list and search latency (p50, p99) per kind of query, sequential requests, and the same SQL
  run directly with asyncpg (the ratio shows what the API adds);
- the CSV export of all 100k customers;
- onboarding throughput: concurrent POST /v1/customers for a fixed time (Postgres, outbox,
  Redis: the whole path).

The Markdown report is printed and written to `--out` (default docs/admin-benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvloop

from admin_api.auth import Role, create_key
from admin_api.customers import SORTS, apply_filters, page_query
from admin_api.paging import Listing, Select, order
from loadtest import customers as dataset
from loadtest.setup import REPO, demo_catalog
from tarif_common.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from tarif_postgres import db, queries

Q = queries.load("loadtest")

QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("first page", {}),
    ("page after 50,000 (cursor)", {"cursor": "deep"}),
    ("search `q=ana novak`", {"q": "ana novak"}),
    ("search `q=ljub` (one prefix, many hits)", {"q": "ljub"}),
    ("full_name prefix `hana k`", {"full_name": "hana k"}),
    ("email prefix `eva.kos`", {"email": "eva.kos"}),
    ("city + type, sort -last_name",
     {"city": "ptuj", "customer_type": "business", "sort": "-last_name"}),
    ("country + status + payment",
     {"country": "HR", "status": "active", "payment_method": "invoice"}),
    ("sort -created_at", {"sort": "-created_at"}),
]  # fmt: skip


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def prepare(database_url: str, n: int) -> str:
    await db.migrate_url(database_url)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(Q.insert_bench_catalog, json.dumps(demo_catalog()))
        await conn.execute(Q.queue_catalog_sync)
        await dataset.load(conn, n)
        key, _ = await create_key(conn, Role.ADMIN, "bench")
        return key
    finally:
        await conn.close()


async def deep_cursor(client: httpx.AsyncClient) -> str:
    """The cursor of the page that starts at customer 50,001."""
    page = (await client.get("/v1/customers", params={"limit": 500})).json()
    for _ in range(99):
        page = (
            await client.get("/v1/customers", params={"limit": 500, "cursor": page["next_cursor"]})
        ).json()
    return str(page["next_cursor"])


async def sql_only(database_url: str, params: dict[str, Any], rounds: int) -> float:
    """p50 of the list query run directly (no HTTP, no JSON)."""
    conn = await asyncpg.connect(database_url)
    try:
        select = Select()
        apply_filters(select, params)
        listing = Listing(50, params.get("cursor"), params.get("sort"))
        chosen = order(select, listing, SORTS, "id", "c.id")
        query = page_query(select, chosen, 50)
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            await conn.fetch(query, *select.params)
            times.append(time.perf_counter() - started)
        return statistics.median(times)
    finally:
        await conn.close()


async def latencies(url: str, key: str, database_url: str, rounds: int) -> list[dict[str, Any]]:
    figures = []
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}, timeout=30) as client:
        cursor = await deep_cursor(client)
        for label, params in QUERIES:
            params = {k: (cursor if v == "deep" else v) for k, v in params.items()}
            for _ in range(10):  # warm-up: plans cached, pages in memory
                await client.get("/v1/customers", params=params)
            times, hits = [], 0
            for _ in range(rounds):
                started = time.perf_counter()
                response = await client.get("/v1/customers", params=params)
                times.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
                hits = len(response.json()["items"])
            sql = await sql_only(database_url, params, rounds)
            figures.append(
                {"query": label, "items": hits, "p50": statistics.median(times),
                 "p99": percentile(times, 99), "sql_p50": sql}
            )  # fmt: skip
    return figures


async def export_time(url: str, key: str) -> tuple[float, int]:
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}, timeout=120) as client:
        started = time.perf_counter()
        lines = 0
        async with client.stream("GET", "/v1/customers/export") as response:
            async for chunk in response.aiter_text():
                lines += chunk.count("\n")
        return time.perf_counter() - started, lines - 1


def onboarding(i: int) -> dict[str, Any]:
    return {
        "account": {
            "first_name": "Bench", "last_name": f"Customer{i}", "email": f"bench{i}@example.com",
            "phone": "+38640000000", "customer_type": "residential", "address": "Trg 1",
            "city": "Ljubljana", "state": "-", "country": "SI",
        },
        "payment": {"method": "invoice"},
        "subscription": {
            "plan": "basic", "currency": "EUR", "services": [f"3869{i:08d}"],
            "balances": [{"id": "main", "resource": "EUR", "amount": "10.00"}],
        },
    }  # fmt: skip


async def _post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes
) -> tuple[int, bytes]:
    """One keep-alive HTTP/1.1 POST: a lean client, so the load generator takes little CPU
    from the two cores the server shares with it."""
    writer.write(head % len(body) + body)
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def onboarding_rate(
    url: str, key: str, seconds: float, concurrency: int
) -> tuple[float, int, int]:
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST /v1/customers HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {key}\r\n"
        "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    ).encode()
    done, failed = 0, 0
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done, failed
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < deadline:
                body = json.dumps(onboarding(next(counter))).encode()
                status, answer = await _post(reader, writer, head, body)
                if status == 201 and b'"engine":"synced"' in answer:
                    done += 1
                else:
                    failed += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started), done, failed


@contextlib.contextmanager
def services(workdir: Path, redis_url: str, database_url: str) -> Iterator[str]:
    admin_port = free_port()
    env = os.environ | {
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "TARIF_GRPC_ADDR": f"127.0.0.1:{free_port()}",
        "TARIF_METRICS_ADDR": f"127.0.0.1:{free_port()}",
        "TARIF_ADMIN_ADDR": f"127.0.0.1:{admin_port}",
        "TARIF_LOG_LEVEL": "WARNING",
    }
    log = (workdir / "services.log").open("ab")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tarif_cli.main", *cmd], env=env, stdout=log, stderr=log
        )
        for cmd in (["admin", "serve"], ["engine"])
    ]
    url = f"http://127.0.0.1:{admin_port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/openapi.json", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
        log.close()


def report(figures: list[dict[str, Any]], export: tuple[float, int], rate: tuple[float, int, int],
           n: int, command: str) -> str:  # fmt: skip
    ms = 1000
    lines = [
        "# Admin API benchmark",
        "",
        f"Produced by `{command}` on this project's 2-core development machine: embedded",
        f"PostgreSQL 16 and Valkey, {n:,} customers (each with a subscription and a service),",
        "`tarif admin serve` (one process) and `tarif engine`, and the client, all on the same",
        "machine. Latencies are of sequential requests after a warm-up; `SQL p50` is the same",
        "query run directly with asyncpg, so `API/SQL` is what HTTP, auth, validation and JSON",
        "add.",
        "",
        "| query (50 per page) | items | p50 ms | p99 ms | p99 / 50 ms target | SQL p50 ms "
        "| API/SQL |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in figures:
        lines.append(
            f"| {f['query']} | {f['items']} | {f['p50'] * ms:.1f} | {f['p99'] * ms:.1f} | "
            f"{f['p99'] * ms / 50:.2f} | {f['sql_p50'] * ms:.1f} | {f['p50'] / f['sql_p50']:.1f}x |"
        )
    seconds, rows = export
    per_s, done, failed = rate
    lines += [
        "",
        f"CSV export of all {rows:,} customers: {seconds:.2f} s ({rows / seconds:,.0f} rows/s,"
        " streamed).",
        "",
        "Onboarding (POST /v1/customers from 16 keep-alive connections of a lean HTTP client;",
        "whole path: validation, Postgres transaction with audit and outbox, the account written",
        f"to Redis, the customer read back): **{per_s:.0f} customers/s** ({done} created, "
        f"{failed} failed);",
        f"target 200/s: ratio {per_s / 200:.2f}.",
        "",
    ]
    return "\n".join(lines)


async def measure(args: argparse.Namespace, workdir: Path) -> str:
    with contextlib.ExitStack() as stack:
        redis_url = stack.enter_context(
            EmbeddedRedis(workdir / "redis", appendfsync="everysec")
        ).url
        database_url = stack.enter_context(EmbeddedPostgres(workdir / "pg", owned_root=workdir)).url
        print(f"loading {args.customers:,} customers...", flush=True)
        key = await prepare(database_url, args.customers)
        url = stack.enter_context(services(workdir, redis_url, database_url))
        print("measuring list and search latency...", flush=True)
        figures = await latencies(url, key, database_url, args.rounds)
        print("measuring the CSV export...", flush=True)
        export = await export_time(url, key)
        print("measuring onboarding...", flush=True)
        rate = await onboarding_rate(url, key, args.seconds, 16)
    command = "python -m loadtest.admin_bench" + (
        "" if args.customers == 100_000 else f" --customers {args.customers}"
    )
    return report(figures, export, rate, args.customers, command)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0, help="onboarding phase")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "admin-benchmarks.md")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tarif-admin-bench-"))
    try:
        text = uvloop.run(measure(args, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
