"""How throughput grows with engine processes: `python -m loadtest.scaling --workers 1,2,3`.

For each N (in turn, `--rounds` times, alternating so that a busy machine disturbs every N
alike) a fresh embedded Redis is provisioned and `tarif engine --workers N` started; after a
warm-up the same unary and batched generators as `loadtest.bench` run against it, with calls in
flight, streams and connections in proportion to N (the kernel spreads connections, not calls,
over the processes sharing the port). The report gives per N the events/s, the ratio to N=1 and
where the CPU went: cores busy in each engine process, Redis and the generators, and CPU per
event. The Markdown is printed and written to `--out` (default docs/scaling-benchmarks.md;
nothing is written for --quick without --out), keeping the hand-written part below the marker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from loadtest import clients, report
from loadtest.bench import WARMUP_LIMIT, phase_of
from loadtest.report import Phase
from loadtest.setup import REPO, EngineProcess, provision
from loadtest.workers import Job, Monitor, run_workers
from tarif_common.embedded import EmbeddedRedis

Log = Callable[[str], None]
PROCESSES = ("engine", "redis", "generator")
NET_IN, NET_OUT = "bytes:redis_in", "bytes:redis_out"  # counters read with the CPU times
AOF = "bytes:aof"  # what a replica would receive too: the scripts' effects


@dataclass
class RedisMonitor(Monitor):
    """Also reads Redis' network and AOF byte counters at the instants the CPU times are read
    (the window's edges), so the bytes per event between engine and Redis, and written to the
    append-only file (as much as a replica receives: both carry the scripts' effects), are
    measured, not guessed."""

    redis_url: str = ""

    def cpu(self) -> dict[str, float]:
        used = super().cpu()
        with redis.Redis.from_url(self.redis_url) as client:
            stats = client.info("stats")
            aof = client.info("persistence").get("aof_current_size", 0)
        used[NET_IN] = float(stats["total_net_input_bytes"])
        used[NET_OUT] = float(stats["total_net_output_bytes"])
        used[AOF] = float(aof)
        return used


@dataclass(frozen=True)
class Options:
    """Sizes of a scaling run; per-N figures scale with N where a single engine's would."""

    workers: tuple[int, ...] = (1, 2, 3)
    rounds: int = 1
    appendfsync: str = "everysec"
    subscribers: int = 10_000
    duration: float = 10.0
    concurrency: int = 64  # unary calls in flight per engine process
    streams: int = 8  # ChargeEvents streams per engine process, one batch in flight each
    batch: int = 500
    connections: int = 4  # per engine process, over all generator processes
    generators: int = 1  # unary generator processes (the batched one needs little CPU)


@dataclass
class Point:
    """One N, one round: the two phases and each engine process's CPU in them."""

    workers: int
    round: int
    unary: Phase
    batch: Phase
    incidents: list[str] = field(default_factory=list)


def _phase(name: str, job: Job, specs: list[dict[str, Any]], monitor: Monitor) -> Phase:
    seconds = float(specs[0]["duration"])
    results, window = run_workers(job, specs, seconds, monitor)
    return phase_of(name, results, window.cpu, seconds)


def _specs(count: int, **common: Any) -> list[dict[str, Any]]:
    tag = uuid.uuid4().hex[:8]
    return [{**common, "seed": i, "tag": f"{tag}{i}"} for i in range(count)]


def measure(opts: Options, workers: int, round_: int, log: Log) -> Point:
    """One fresh Redis and engine with `workers` processes; warm-up, unary, batched."""

    def say(message: str) -> None:
        log(f"[round {round_ + 1}] N={workers}: {message}")

    with (
        tempfile.TemporaryDirectory(prefix="tarif-scaling-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        server = stack.enter_context(
            EmbeddedRedis(Path(tmp) / "redis", appendfsync=opts.appendfsync)
        )
        with redis.Redis.from_url(server.url) as client:
            client.config_set("auto-aof-rewrite-percentage", 0)  # no fork inside a phase
        say(f"provisioning {opts.subscribers:,} subscribers")
        asyncio.run(provision(server.url, opts.subscribers))
        engine = EngineProcess(server.url, Path(tmp), workers=workers)
        stack.callback(engine.stop)
        engine.start()
        assert server.pid is not None
        common = {"target": engine.target, "subscribers": opts.subscribers}
        incidents: list[str] = []
        pids = {"engine": engine.pid, "redis": server.pid}
        with RedisMonitor(pids, redis_url=server.url) as monitor:
            say("warm-up")
            warm = _specs(1, **common, duration=WARMUP_LIMIT, batch=opts.batch)
            run_workers(clients.warm_job, warm, 0.0, collect_timeout=WARMUP_LIMIT + 15)
            per = max(1, opts.concurrency * workers // opts.generators)
            channels = max(1, opts.connections * workers // opts.generators)
            unary_specs = _specs(
                opts.generators,
                **common,
                duration=opts.duration,
                concurrency=per,
                channels=channels,
            )
            say(f"unary {opts.duration:g} s")
            unary = _phase("unary", clients.unary_job, unary_specs, monitor)
            batch_specs = _specs(
                1,
                **common,
                duration=opts.duration,
                streams=opts.streams * workers,
                batch=opts.batch,
                channels=opts.connections * workers,
            )
            say(f"batched {opts.duration:g} s")
            batch = _phase("batched", clients.batch_job, batch_specs, monitor)
            code = engine.exited()
            if code is not None:
                incidents.append(f"engine exited with code {code}: {engine.log_tail(2)}")
        return Point(workers, round_, unary, batch, incidents)


def run_scaling(opts: Options, log: Log) -> list[Point]:
    points = []
    for round_ in range(opts.rounds):
        for workers in opts.workers:
            points.append(measure(opts, workers, round_, log))
    return points


def engine_cores(phase: Phase) -> list[float]:
    """Cores busy in each engine process during the phase, busiest first."""
    per = [cpu for name, cpu in phase.cpu.items() if name.startswith("engine/")]
    return sorted((cpu / phase.seconds for cpu in per), reverse=True) if phase.seconds else []


def redis_bytes_per_event(phase: Phase) -> tuple[float, float, float]:
    """Bytes Redis received, sent and appended to its AOF per answered event."""
    if not phase.events:
        return 0.0, 0.0, 0.0
    return tuple(phase.cpu.get(k, 0.0) / phase.events for k in (NET_IN, NET_OUT, AOF))  # type: ignore[return-value]


def _median_rate(points: Sequence[Point], pick: Callable[[Point], Phase]) -> float:
    return statistics.median(pick(p).rate for p in points) if points else 0.0


def _table(points: list[Point], pick: Callable[[Point], Phase], what: str) -> list[str]:
    base = _median_rate([p for p in points if p.workers == 1], pick)
    lines = [
        f"| N | round | {what}, events/s | x N=1 | engine cores (each process) | redis cores "
        "| generator cores | rest of machine | engine µs/event | redis µs/event "
        "| Redis bytes in / out / AOF per event |",
        "|---" * 11 + "|",
    ]
    for point in sorted(points, key=lambda p: (p.workers, p.round)):
        phase = pick(point)
        each = engine_cores(phase)
        named = sum(phase.cores(p) for p in PROCESSES)
        lines.append(
            f"| {point.workers} | {point.round + 1} | {phase.rate:,.0f} | "
            f"{phase.rate / base if base else 0.0:.2f} | "
            f"{sum(each):.2f} ({' / '.join(f'{c:.2f}' for c in each)}) | "
            f"{phase.cores('redis'):.2f} | {phase.cores('generator'):.2f} | "
            f"{max(0.0, phase.cores('busy') - named):.2f} | "
            f"{report.cpu_per_event_us(phase, 'engine'):,.0f} | "
            f"{report.cpu_per_event_us(phase, 'redis'):,.0f} | "
            f"{' / '.join(f'{b:,.0f}' for b in redis_bytes_per_event(phase))} |"
        )
    return lines


def _summary(points: list[Point]) -> list[str]:
    ns = sorted({p.workers for p in points})
    unary1 = _median_rate([p for p in points if p.workers == 1], lambda p: p.unary)
    batch1 = _median_rate([p for p in points if p.workers == 1], lambda p: p.batch)
    lines = [
        "| N | unary events/s | x N=1 | batched events/s | x N=1 |",
        "|---|---|---|---|---|",
    ]
    for n in ns:
        mine = [p for p in points if p.workers == n]
        unary = _median_rate(mine, lambda p: p.unary)
        batch = _median_rate(mine, lambda p: p.batch)
        lines.append(
            f"| {n} | {unary:,.0f} | {unary / unary1 if unary1 else 0.0:.2f} | "
            f"{batch:,.0f} | {batch / batch1 if batch1 else 0.0:.2f} |"
        )
    return lines


def render(points: list[Point], opts: Options, command: str) -> str:
    errors = [
        f"- N={p.workers}, round {p.round + 1}, {phase.name}: {phase.errors}"
        for p in points
        for phase in (p.unary, p.batch)
        if phase.errors or phase.success != phase.events
    ]
    incidents = [f"- N={p.workers}, round {p.round + 1}: {i}" for p in points for i in p.incidents]
    lines = [
        "# Tarif engine: throughput by engine processes (`tarif engine --workers N`)",
        "",
        *report.measured_with(command),
        "",
        *report.machine_facts(),
        "",
        f"- Per N, in turn ({opts.rounds} round(s), N values alternating): a fresh embedded Redis "
        f"(appendfsync {opts.appendfsync}, AOF rewrite off), {opts.subscribers:,} subscribers, "
        "`tarif engine --workers N`, a warm-up, then the two phases below, "
        f"{opts.duration:g} s each.",
        f"- Unary: {opts.generators} generator process(es), {opts.concurrency} calls in flight "
        f"per engine process; batched: one generator process, {opts.streams} streams per engine "
        f"process, one batch of {opts.batch} in flight per stream. {opts.connections} "
        "connections per engine process in each phase: the kernel (SO_REUSEPORT) places "
        "connections, not calls, so the split over the processes is uneven by chance; the "
        "cores of each process show it.",
        "- x N=1: against the median of N=1 over the rounds. Cores: average cores busy over the "
        "window; rest of machine: busy cores not in the engine, Redis or the generators (other "
        "work on a shared machine). µs/event: CPU microseconds per answered event, all engine "
        "processes together. Redis bytes: its `total_net_input_bytes` and "
        "`total_net_output_bytes` over the window per answered event (engine <-> Redis), and "
        "the growth of its append-only file (`aof_current_size`; a replica receives as much).",
        "",
        "## Summary (median over rounds)",
        "",
        *_summary(points),
        "",
        "## Unary ChargeEvent",
        "",
        *_table(points, lambda p: p.unary, "unary"),
        "",
        "## Batched ChargeEvents",
        "",
        *_table(points, lambda p: p.batch, "batched"),
        "",
        "## Errors and incidents",
        "",
        *(errors + incidents or ["none: every answer SUCCESS, the engine never stopped"]),
        "",
    ]
    return "\n".join(lines)


def _workers(text: str) -> tuple[int, ...]:
    values = tuple(int(part) for part in text.split(",") if part.strip())
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("a list of engine process counts, e.g. 1,2,3")
    return values


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.scaling", description=__doc__)
    parser.add_argument("--workers", type=_workers, default=(1, 2, 3), help="e.g. 1,2,3")
    parser.add_argument("--rounds", type=int, default=1, help="times each N is measured")
    parser.add_argument("--quick", action="store_true", help="1,000 subscribers, 3 s phases")
    parser.add_argument("--appendfsync", choices=("always", "everysec"), default="everysec")
    parser.add_argument("--subscribers", type=int)
    parser.add_argument("--duration", type=float, help="seconds per phase")
    parser.add_argument("--generators", type=int, help="unary generator processes")
    parser.add_argument("--out", type=Path, help="report file (default docs/scaling-benchmarks.md)")
    args = parser.parse_args(argv)
    sizes = {"subscribers": 1_000, "duration": 3.0} if args.quick else {}
    given = {
        "subscribers": args.subscribers,
        "duration": args.duration,
        "generators": args.generators,
    }
    opts = Options(
        workers=args.workers,
        rounds=max(1, args.rounds),
        appendfsync=args.appendfsync,
        **{**sizes, **{k: v for k, v in given.items() if v}},
    )
    out = args.out if args.out or args.quick else REPO / "docs" / "scaling-benchmarks.md"
    words = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "-m", "loadtest.scaling", *words])
    began = time.monotonic()

    def log(message: str) -> None:
        print(f"{time.monotonic() - began:6.1f}s {message}", file=sys.stderr, flush=True)

    signal.signal(signal.SIGTERM, _interrupt)  # a `kill` cleans up like Ctrl-C does
    try:
        points = run_scaling(opts, log)
    except KeyboardInterrupt:
        print("interrupted; engines and Redis stopped", file=sys.stderr)
        return 130
    text = render(points, opts, command)
    text += f"\nTotal time: {time.monotonic() - began:.0f} s.\n"
    if out is not None:
        previous = out.read_text() if out.exists() else None
        out.write_text(report.with_analysis(text, previous))
        log(f"report written to {out}")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
