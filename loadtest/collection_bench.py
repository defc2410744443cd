"""Benchmark of a payment-collection run: `python -m loadtest.collection_bench --accounts 100000
--workers 2`.

Starts an embedded Postgres in a temporary folder and the sandbox gateway
(`loadtest.gateway_sandbox`) in a process of its own, builds the data set set-based (the
customers of `loadtest.customers` with the billing benchmark's postpaid profiles; then in SQL:
every 20th customer pays by direct debit under an active mandate, the others by card, every 50th
card declining; one issued invoice per profile, due before "process now"), then runs the job
type's `run_once` in `--workers` processes side by side (each its own pool and run, as several
batch workers would; they split the invoices between them) and measures the wall time. The
result is checked: every approved card invoice paid once (payments = the sandbox's charges, in
number and money, never two on one invoice), every declining card declined, the direct-debit
invoices in one SEPA collection, the journal balanced, and a second run with the same "process
now" sending nothing. The floor is the bare round trips of the same gateway client to the
sandbox (same processes, same concurrency), measured on a sample and scaled to the run's charges.

Prints a Markdown summary (docs/payment-collection.md, "Benchmark", holds the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvloop

from billing_batch.jobs import payment_collection
from billing_batch.jobs.context import JobContext
from loadtest import billing_bench, customers
from loadtest.billing_bench import cpu_seconds
from tarif_billing.gateway.http import HttpGateway
from tarif_billing.gateway.protocol import Approved, Charge
from tarif_common.embedded import EmbeddedPostgres, free_port
from tarif_common.redis_client import connect
from tarif_common.settings import Settings
from tarif_jobs.items import RunItems
from tarif_jobs.runs import RunRequest
from tarif_postgres import db, queries

Q = queries.load("collection_bench")
B = queries.load("billing_bench")

PROCESS_NOW = datetime(2026, 12, 20, 6, 0, tzinfo=UTC)
KEY = "sk_test_bench"
CREDITOR = {
    "sepa_creditor_id": "DE98ZZZ09999999999",
    "sepa_creditor_name": "Tarif Telecom",
    "sepa_creditor_iban": "DE02120300000000202051",
}


@dataclass(frozen=True, slots=True)
class Options:
    accounts: int = 3_000
    workers: int = 2
    chunk: int = 200
    concurrency: int = 16  # charges in flight per worker
    floor_sample: int = 4_000


@dataclass(frozen=True, slots=True)
class Worker:
    """One worker process's run: its counts, wall time and the CPU its Python process used."""

    total: int
    succeeded: int
    failed: int
    seconds: float
    cpu: float


@dataclass(slots=True)
class Figures:
    options: Options
    phases: dict[str, float] = field(default_factory=dict)
    run_seconds: float = 0.0
    per_worker: list[Worker] = field(default_factory=list)
    pg_cpu: float = 0.0
    sandbox_cpu: float = 0.0
    charges: int = 0  # approved by the sandbox during the run
    requests: int = 0  # requests the sandbox answered during the run
    floor_per_charge: float = 0.0  # seconds of wall per bare round trip (all workers together)
    second_run_seconds: float = 0.0
    checks: dict[str, bool] = field(default_factory=dict)
    found: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(self.checks.values())

    @property
    def floor_seconds(self) -> float:
        return self.floor_per_charge * self.requests


def settings(url: str, sandbox_url: str, opts: Options) -> Settings:
    return Settings(
        database_url=url,
        redis_url="redis://127.0.0.1:1",  # never used by this job type
        environment="test",
        payment_gateway_url=sandbox_url,
        payment_gateway_key=KEY,
        payment_collection_chunk=opts.chunk,
        payment_collection_concurrency=opts.concurrency,
        sepa_creditor_id=CREDITOR["sepa_creditor_id"],
        sepa_creditor_name=CREDITOR["sepa_creditor_name"],
        sepa_creditor_iban=CREDITOR["sepa_creditor_iban"],
    )


async def build(url: str, opts: Options, figures: Figures) -> None:
    """The data set, set-based; each phase timed."""
    await db.migrate_url(url)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(B.bench_session)
        began = time.perf_counter()
        await customers.load(conn, opts.accounts, payment_type="postpaid")
        async with conn.transaction():
            await conn.execute(B.bench_tax)
            await conn.execute(B.bench_profiles, opts.accounts, billing_bench.MONTH[0])
            await conn.execute(B.bench_reset_sequences)
            await conn.execute(Q.bench_payment_methods, opts.accounts)
            await conn.execute(Q.bench_mandates, CREDITOR["sepa_creditor_id"])
        figures.phases["customers, profiles, cards and mandates"] = time.perf_counter() - began
        began = time.perf_counter()
        async with conn.transaction():
            await conn.execute(Q.bench_series)
            await conn.execute(Q.bench_bills, opts.accounts)
            await conn.execute(Q.bench_invoices, opts.accounts)
            await conn.execute(Q.bench_pending_totals)
            await conn.execute(Q.bench_reset_invoice_sequences)
        figures.phases["bills and issued invoices (generate_series)"] = time.perf_counter() - began
        began = time.perf_counter()
        await conn.execute(Q.bench_analyze)
        figures.phases["vacuum analyze"] = time.perf_counter() - began
    finally:
        await conn.close()


@contextmanager
def sandbox_process() -> Iterator[tuple[str, int]]:
    """The sandbox gateway in a process of its own: its URL and pid."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "loadtest.gateway_sandbox", "--port", str(port), "--key", KEY]
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/sandbox/stats", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the sandbox gateway did not start") from None
                time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(10)


def stats(url: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{url}/sandbox/stats", timeout=10).json()
    return answer


def postgres_cpu(pid_file: Path) -> float:
    """CPU the whole Postgres server used so far: the postmaster, its live children and the
    children it reaped (exited backends), from /proc."""
    postmaster = int(pid_file.read_text().splitlines()[0])
    fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    total = ticks / os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == postmaster:  # backends and background processes: no grandchildren
            total += cpu_seconds(int(stat.parent.name))
    return total


# -- the floor: bare round trips -------------------------------------------------------------


def _floor_work(
    sandbox_url: str, n: int, tag: int, concurrency: int, barrier: Barrier, out: Any
) -> None:
    async def main() -> None:
        async with HttpGateway(sandbox_url, KEY, max_connections=concurrency) as gateway:
            gate = asyncio.Semaphore(concurrency)

            async def one(i: int) -> None:
                async with gate:
                    charge = Charge(
                        f"tok_ok_floor{tag}", Decimal("1.00"), "EUR", f"floor-{tag}-{i}"
                    )
                    assert isinstance(await gateway.charge(charge), Approved)

            barrier.wait()
            await asyncio.gather(*(one(i) for i in range(n)))
        out.put(tag)

    uvloop.run(main())


def floor(sandbox_url: str, opts: Options) -> float:
    """Seconds of wall per bare charge round trip, `workers` processes at once."""
    spawn = multiprocessing.get_context("spawn")
    barrier, out = spawn.Barrier(opts.workers + 1), spawn.Queue()
    share = max(1, opts.floor_sample // opts.workers)
    processes = [
        spawn.Process(
            target=_floor_work,
            args=(sandbox_url, share, n, opts.concurrency, barrier, out),
            daemon=True,
        )
        for n in range(opts.workers)
    ]
    for p in processes:
        p.start()
    barrier.wait(timeout=120)
    began = time.perf_counter()
    for _ in processes:
        out.get(timeout=600)
    seconds = time.perf_counter() - began
    for p in processes:
        p.join(30)
    return seconds / (share * opts.workers)


# -- the run ------------------------------------------------------------------------------------


async def one_run(s: Settings) -> Worker:
    """One run of the job, as a batch worker runs it (its own run row and items)."""
    assert s.database_url is not None
    pool = await db.create_pool(s.database_url, min_size=1, max_size=4)
    redis = connect(s.redis_url or "")
    try:
        async with pool.acquire() as conn:
            run_id = await conn.fetchval(Q.bench_run_row, PROCESS_NOW)
        items = RunItems(pool, run_id, "payment_collection")
        began, cpu = time.perf_counter(), time.process_time()
        ctx = JobContext(pool, redis, s)
        await payment_collection.run_once(ctx, RunRequest(PROCESS_NOW, {}, None, run_id), items)
        await items.flush()
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
        total, ok, failed = items.counts
        return Worker(total, ok, failed, seconds, cpu)
    finally:
        await redis.aclose()
        await pool.close()


def _work(s: Settings, barrier: Barrier, out: Any) -> None:
    async def main() -> None:
        barrier.wait()
        out.put(await one_run(s))

    uvloop.run(main())


def run_workers(s: Settings, opts: Options, figures: Figures) -> None:
    spawn = multiprocessing.get_context("spawn")
    barrier, out = spawn.Barrier(opts.workers + 1), spawn.Queue()
    processes = [
        spawn.Process(target=_work, args=(s, barrier, out), daemon=True)
        for _ in range(opts.workers)
    ]
    for p in processes:
        p.start()
    barrier.wait(timeout=120)
    began = time.perf_counter()
    for _ in processes:
        figures.per_worker.append(out.get(timeout=3600))
    figures.run_seconds = time.perf_counter() - began
    for p in processes:
        p.join(60)
        if p.exitcode != 0:
            raise RuntimeError(f"collection worker exited with {p.exitcode}")


async def check(url: str, figures: Figures, before: dict[str, Any], after: dict[str, Any]) -> None:
    conn = await asyncpg.connect(url)
    try:
        found = dict(await conn.fetchrow(Q.bench_check))
    finally:
        await conn.close()
    figures.found = found
    n = figures.options.accounts
    cards = n - found["debit_customers"]
    approved = cards - found["declining_cards"]
    charged = after["charges"] - before["charges"]
    money = Decimal(after["amount"]) - Decimal(before["amount"])
    figures.checks = {
        "every approved card invoice paid once (payments = sandbox charges)": (
            found["succeeded"] == found["payments"] == charged == approved
            and found["paid"] == money
            and found["most_on_one_invoice"] == 1
        ),
        "every declining card declined, nothing else left": (
            found["declined"] == found["declining_cards"] and found["other"] == 0
        ),
        "direct-debit invoices in one SEPA collection": (
            found["collections"] == 1 and found["debits"] == found["debit_customers"]
        ),
        "invoices: closed = paid, open = declined + debits": (
            found["closed"] == approved and found["open"] == found["declined"] + found["debits"]
        ),
        "journal balanced": found["debit"] == found["credit"],
        "run counts = invoices": sum(w.total for w in figures.per_worker)
        == cards + found["debits"],
    }


def measure(opts: Options, workdir: Path) -> Figures:
    """Build, run and check in an embedded Postgres under `workdir`."""
    figures = Figures(opts)
    with EmbeddedPostgres(workdir / "pg", owned_root=workdir) as pg:
        asyncio.run(billing_bench.configure(pg.url))
        pg.stop()
        pg.start()
        asyncio.run(build(pg.url, opts, figures))
        with sandbox_process() as (sandbox_url, sandbox_pid):
            s = settings(pg.url, sandbox_url, opts)
            figures.floor_per_charge = floor(sandbox_url, opts)
            before, sandbox_cpu = stats(sandbox_url), cpu_seconds(sandbox_pid)
            pg_cpu = postgres_cpu(pg.pid_file)
            run_workers(s, opts, figures)
            figures.pg_cpu = postgres_cpu(pg.pid_file) - pg_cpu
            figures.sandbox_cpu = cpu_seconds(sandbox_pid) - sandbox_cpu
            after = stats(sandbox_url)
            figures.charges = after["charges"] - before["charges"]
            figures.requests = after["requests"] - before["requests"]
            began = time.perf_counter()
            asyncio.run(one_run(s))  # the same "process now" again: nothing to send
            figures.second_run_seconds = time.perf_counter() - began
            again = stats(sandbox_url)
        asyncio.run(check(pg.url, figures, before, after))
        figures.checks["a second run with the same process now sends nothing"] = (
            again["requests"] == after["requests"] + 1  # the stats request itself
        )
    return figures


def render(f: Figures, command: str) -> str:
    o = f.options
    invoices = sum(w.total for w in f.per_worker)
    python = sum(w.cpu for w in f.per_worker)
    cpu = python + f.pg_cpu + f.sandbox_cpu
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{command}`",
        f"(Python {platform.python_version()}, `nproc` = {multiprocessing.cpu_count()};"
        f" embedded Postgres with {billing_bench.SETTINGS}).",
        "",
        "| Figure | Value |",
        "|---|---|",
        f"| Accounts / invoices collected (cards + debits) | {o.accounts:,} / {invoices:,} |",
        f"| Workers (processes) x chunk x charges in flight | {o.workers} x {o.chunk} x"
        f" {o.concurrency} |",
        f"| Collection run, wall | {f.run_seconds:.1f} s |",
        f"| Invoices per second | {invoices / f.run_seconds if f.run_seconds else 0:,.0f} |",
        f"| Gateway requests / approved charges | {f.requests:,} / {f.charges:,} |",
        f"| Floor: bare round trips to the sandbox (sample of {o.floor_sample:,}, scaled) |"
        f" {f.floor_seconds:.1f} s |",
        f"| Ratio run / floor | {f.run_seconds / f.floor_seconds:.1f} x |"
        if f.floor_seconds
        else "| Ratio run / floor | - |",
        f"| CPU: Python workers + Postgres + sandbox | {python:.1f} + {f.pg_cpu:.1f} +"
        f" {f.sandbox_cpu:.1f} = {cpu:.1f} core-s |",
        f"| CPU per invoice | {cpu / max(invoices, 1) * 1000:.2f} ms |",
        f"| Second run, same process now (nothing to send) | {f.second_run_seconds:.1f} s |",
    ]
    for w in f.per_worker:
        lines.append(
            f"| A worker: invoices, failed, wall, CPU | {w.total:,}, {w.failed:,},"
            f" {w.seconds:.1f} s, {w.cpu:.1f} s |"
        )
    for phase, seconds in f.phases.items():
        lines.append(f"| Set-up: {phase} | {seconds:.1f} s |")
    for name, passed in f.checks.items():
        lines.append(f"| Check: {name} | {'ok' if passed else '**FAILED**'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    default = Options()
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--accounts", type=int, default=default.accounts)
    parser.add_argument("--workers", type=int, default=default.workers)
    parser.add_argument("--chunk", type=int, default=default.chunk)
    parser.add_argument("--concurrency", type=int, default=default.concurrency)
    parser.add_argument("--floor-sample", type=int, default=default.floor_sample)
    args = parser.parse_args()
    opts = Options(args.accounts, args.workers, args.chunk, args.concurrency, args.floor_sample)
    workdir = Path(tempfile.mkdtemp(prefix="tarif-collection-bench-"))
    try:
        figures = measure(opts, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    command = (
        f"python -m loadtest.collection_bench --accounts {opts.accounts} --workers {opts.workers}"
        f" --chunk {opts.chunk} --concurrency {opts.concurrency}"
    )
    print(render(figures, command))
    if not figures.ok:
        raise SystemExit("a check failed")


if __name__ == "__main__":
    main()
