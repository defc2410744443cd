"""Benchmark of a billing run: `python -m loadtest.billing_bench --profiles 100000 --events
5000000 --workers 2`.

Starts an embedded Postgres in a temporary folder (a fresh database), builds the data set
set-based (the customers of `loadtest.customers`, loaded postpaid by COPY; then in SQL: a monthly
billing profile each, a recurring 10.00 EUR fee, a coupon discount on every 4th, and the rated
records of one month made by `generate_series` into a bare table attached as the month's
partition), opens the bills (a run before the cycle ends), then runs `run_billing` in `--workers`
processes side by side, each with its own pool, and measures the wall time. The result is
checked: every profile billed once, invoice numbers unique and gapless (1..N), usage items
total = rated records total, journal balanced. The floor is a bare `SELECT account_id,
sum(cost) ... GROUP BY account_id` over the same records in the same database.

Prints a Markdown summary (docs/benchmarks.md, "Billing", holds the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import asyncpg
import uvloop

from loadtest import customers
from tarif_billing.document import Party
from tarif_billing.issuing import IssueContext
from tarif_billing.runs import BillingFacts, run_billing
from tarif_common.embedded import EmbeddedPostgres
from tarif_postgres import db, queries

Q = queries.load("billing_bench")

MONTH = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
OPEN_AT = datetime(2026, 11, 15, tzinfo=UTC)  # a run inside the cycle: only opens the bills
SERIES = "BENCH"
SELLER = Party(
    name="Tarif Telecom d.o.o.",
    address="Trg republike 3",
    city="Ljubljana",
    postcode="1000",
    country="SI",
    vat_id="SI12345679",
    company_id="1234567000",
)
# What the benchmark's server runs with, besides the embedded defaults (fsync on, work_mem 4MB):
SETTINGS = "shared_buffers=2GB, max_wal_size=8GB; maintenance_work_mem=512MB while loading"
FACTS = BillingFacts(decimals=lambda currency: 2, timing=lambda product: "advance")


def context(at: datetime) -> IssueContext:
    return IssueContext(
        seller=SELLER,
        series=SERIES,
        default_tax="VAT22",
        payment_terms_days=15,
        decimals=lambda currency: 2,
        issued_at=at,
    )


@dataclass(frozen=True, slots=True)
class Options:
    profiles: int = 2_000
    events: int = 100_000
    workers: int = 2
    chunk: int = 500
    profile_dir: Path | None = None  # cProfile of each worker written here


@dataclass(frozen=True, slots=True)
class Worker:
    """What one worker process did: its share, its wall time, and the CPU it and its Postgres
    backend used (on a shared machine the CPU says what the run costs, the wall what it got)."""

    billed: int
    failed: int
    seconds: float
    cpu: float
    pg_cpu: float


@dataclass(slots=True)
class Figures:
    options: Options
    phases: dict[str, float] = field(default_factory=dict)  # seconds
    run_seconds: float = 0.0
    floor_seconds: float = 0.0
    billed: int = 0
    failed: int = 0
    per_worker: list[Worker] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(self.checks.values()) and bool(self.checks)


async def configure(url: str) -> None:
    """Server settings the run needs (see SETTINGS); they apply when the server restarts."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(Q.bench_shared_buffers)
        await conn.execute(Q.bench_max_wal_size)
    finally:
        await conn.close()


async def build(url: str, opts: Options, figures: Figures) -> None:
    """The data set, set-based; each phase timed."""
    await db.migrate_url(url)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(Q.bench_session)
        began = time.perf_counter()
        await customers.load(conn, opts.profiles, payment_type="postpaid")
        async with conn.transaction():
            await conn.execute(Q.bench_tax)
            await conn.execute(Q.bench_coupon)
            await conn.execute(Q.bench_profiles, opts.profiles, MONTH[0])
            await conn.execute(Q.bench_purchases, opts.profiles, MONTH[0])
            await conn.execute(Q.bench_reset_sequences)
        figures.phases["customers, profiles, fees"] = time.perf_counter() - began
        began = time.perf_counter()
        name = f"rated_events_{MONTH[0]:%Y_%m}"
        seconds = int((MONTH[1] - MONTH[0]).total_seconds())
        async with conn.transaction():
            await conn.execute(queries.compose(Q.bench_events_table, partition=name))
            await conn.execute(
                queries.compose(Q.bench_fill_events, partition=name),
                opts.profiles,
                MONTH[0],
                opts.events,
                seconds,
            )
        figures.phases["rated records (generate_series)"] = time.perf_counter() - began
        began = time.perf_counter()
        await conn.execute(
            queries.compose(
                Q.bench_attach_events,
                partition=name,
                start=MONTH[0].isoformat(),
                end=MONTH[1].isoformat(),
            )
        )
        figures.phases["partition attached (indexes built)"] = time.perf_counter() - began
        began = time.perf_counter()
        await conn.execute(Q.bench_analyze)
        figures.phases["vacuum analyze"] = time.perf_counter() - began
    finally:
        await conn.close()


async def open_all(url: str, figures: Figures) -> None:
    """Bills opened as a run inside the cycle opens them (not part of the measured run)."""
    pool = await db.create_pool(url, max_size=2)
    try:
        began = time.perf_counter()
        report = await run_billing(pool, context(OPEN_AT), FACTS, chunk=5_000)
        figures.phases["bills opened (a run before the cycle end)"] = time.perf_counter() - began
        assert report.billed == 0, "nothing may be due before the cycle ends"
    finally:
        await pool.close()


async def floor(url: str) -> float:
    """The bare aggregation, run twice (the first warms the cache); the second is the floor."""
    conn = await asyncpg.connect(url)
    try:
        await conn.fetchval(Q.bench_floor)
        began = time.perf_counter()
        await conn.fetchval(Q.bench_floor)
        return time.perf_counter() - began
    finally:
        await conn.close()


def cpu_seconds(pid: int) -> float:
    """CPU time a local process used so far (user + system), from /proc; 0 where unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _work(url: str, chunk: int, barrier: Barrier, out: Any, profile: str | None) -> None:
    """One worker process: its own pool, one `run_billing` from the common start."""

    async def main() -> None:
        pool = await db.create_pool(url, min_size=1, max_size=1)
        try:
            async with pool.acquire() as conn:
                backend = conn.get_server_pid()
            barrier.wait()
            began, cpu, pg_cpu = time.perf_counter(), time.process_time(), cpu_seconds(backend)
            report = await run_billing(pool, context(MONTH[1]), FACTS, chunk=chunk)
            out.put(
                Worker(
                    report.billed,
                    report.failed,
                    time.perf_counter() - began,
                    time.process_time() - cpu,
                    cpu_seconds(backend) - pg_cpu,
                )
            )
        finally:
            await pool.close()

    if profile is None:
        uvloop.run(main())
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        uvloop.run(main())
    finally:
        profiler.disable()
        profiler.dump_stats(profile)


def run_workers(url: str, opts: Options, figures: Figures) -> None:
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(opts.workers + 1)
    out = spawn.Queue()
    processes = []
    for n in range(opts.workers):
        profile = None
        if opts.profile_dir is not None:
            profile = str(opts.profile_dir / f"billing-worker-{n}.pstats")
        process = spawn.Process(
            target=_work, args=(url, opts.chunk, barrier, out, profile), daemon=True
        )
        process.start()
        processes.append(process)
    barrier.wait(timeout=120)
    began = time.perf_counter()
    for _ in processes:
        worker: Worker = out.get(timeout=3600)
        figures.billed += worker.billed
        figures.failed += worker.failed
        figures.per_worker.append(worker)
    figures.run_seconds = time.perf_counter() - began
    for process in processes:
        process.join(timeout=60)
        if process.exitcode != 0:
            raise RuntimeError(f"billing worker exited with {process.exitcode}")


async def check(url: str, opts: Options, figures: Figures) -> None:
    conn = await asyncpg.connect(url)
    try:
        billed = {r["billed"]: r["profiles"] for r in await conn.fetch(Q.bench_check_bills)}
        numbers = await conn.fetchrow(Q.bench_check_numbers, SERIES)
        usage = await conn.fetchrow(Q.bench_check_usage)
        journal = await conn.fetchrow(Q.bench_check_journal)
    finally:
        await conn.close()
    n = opts.profiles
    figures.checks = {
        "every profile billed once": billed == {1: n},
        "invoices 1..N, unique, none failed": (
            numbers["invoices"] == numbers["numbers"] == n
            and (numbers["first"], numbers["last"], numbers["failed"]) == (1, n, 0)
        ),
        "usage items total = rated records total": (
            usage["records"] == usage["events"] == opts.events and usage["rated"] == usage["billed"]
        ),
        "journal balanced": journal["debit"] == journal["credit"],
    }


async def _prepare(url: str, opts: Options, figures: Figures) -> None:
    await build(url, opts, figures)
    await open_all(url, figures)
    figures.floor_seconds = await floor(url)


def measure(opts: Options, workdir: Path) -> Figures:
    """Build, run and check in an embedded Postgres under `workdir`."""
    figures = Figures(opts)
    with EmbeddedPostgres(workdir / "pg", owned_root=workdir) as pg:
        asyncio.run(configure(pg.url))
        pg.stop()
        pg.start()
        asyncio.run(_prepare(pg.url, opts, figures))
        run_workers(pg.url, opts, figures)
        asyncio.run(check(pg.url, opts, figures))
    return figures


def render(f: Figures, command: str) -> str:
    o = f.options
    rate = o.profiles / f.run_seconds if f.run_seconds else 0.0
    events = o.events / f.run_seconds if f.run_seconds else 0.0
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{command}`",
        f"(Python {platform.python_version()}, `nproc` = {multiprocessing.cpu_count()};"
        f" embedded Postgres with {SETTINGS}).",
        "",
        "| Figure | Value |",
        "|---|---|",
        f"| Profiles / rated records | {o.profiles:,} / {o.events:,} |",
        f"| Workers (processes) x chunk | {o.workers} x {o.chunk} |",
        f"| Billing run, wall | {f.run_seconds:.1f} s |",
        f"| Profiles billed per second | {rate:,.0f} |",
        f"| Rated records billed per second | {events:,.0f} |",
        f"| Floor: bare GROUP BY over the records | {f.floor_seconds:.2f} s |",
        f"| Ratio run / floor | {f.run_seconds / f.floor_seconds:.1f} x |"
        if f.floor_seconds
        else "| Ratio run / floor | - |",
    ]
    python = sum(w.cpu for w in f.per_worker)
    postgres = sum(w.pg_cpu for w in f.per_worker)
    lines += [
        f"| CPU used: Python workers + their Postgres backends | {python:.1f} + {postgres:.1f}"
        f" = {python + postgres:.1f} core-s |",
        f"| CPU per profile billed | {(python + postgres) / max(f.billed, 1) * 1000:.2f} ms |",
    ]
    for w in f.per_worker:
        lines.append(
            f"| A worker: billed, wall, CPU (Python / Postgres) | {w.billed:,}, {w.seconds:.1f}"
            f" s, {w.cpu:.1f} / {w.pg_cpu:.1f} s |"
        )
    for phase, seconds in f.phases.items():
        lines.append(f"| Set-up: {phase} | {seconds:.1f} s |")
    for name, passed in f.checks.items():
        lines.append(f"| Check: {name} | {'ok' if passed else '**FAILED**'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    default = Options()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=default.profiles)
    parser.add_argument("--events", type=int, default=default.events)
    parser.add_argument("--workers", type=int, default=default.workers)
    parser.add_argument("--chunk", type=int, default=default.chunk)
    parser.add_argument("--profile-dir", type=Path, help="write each worker's cProfile here")
    args = parser.parse_args()
    opts = Options(args.profiles, args.events, args.workers, args.chunk, args.profile_dir)
    workdir = Path(tempfile.mkdtemp(prefix="tarif-billing-bench-"))
    try:
        figures = measure(opts, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    command = (
        f"python -m loadtest.billing_bench --profiles {opts.profiles} --events {opts.events}"
        f" --workers {opts.workers} --chunk {opts.chunk}"
    )
    print(render(figures, command))
    if not figures.ok:
        raise SystemExit("a check failed")


if __name__ == "__main__":
    main()
