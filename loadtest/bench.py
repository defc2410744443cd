"""Benchmark of the charging engine on this machine: `python -m loadtest.bench [--quick]`.

One run per appendfsync policy (default: `always` and `everysec`, side by side). Each run starts
its own embedded Redis in a temporary directory, provisions the demo catalog and N subscribers,
starts `tarif engine` as a subprocess, then measures in turn: unary ChargeEvent throughput and
the same Lua script driven raw with single events (no engine), batched ChargeEvents throughput
and raw batches, the same unary and batched generators against a bare gRPC floor (a no-op
`ChargingService` in its own process, `loadtest.floor`), latency in open loop at half the unary
peak just measured and at the peak, the engine's RSS and Redis memory per subscriber. The
Markdown report is printed and written to `--out` (default docs/benchmarks.md; nothing is
written for --quick without --out). `--workers N` runs the engine as `tarif engine --workers N`
(N processes on one port); `python -m loadtest.scaling` compares several N.

Everything is bounded in time, and the engine (SIGTERM) and Redis are stopped on any exit,
Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from loadtest import clients, raw, report
from loadtest.floor import FloorProcess
from loadtest.report import Memory, OpenLoop, Phase, RunFigures
from loadtest.setup import PARTITIONS, REPO, EngineProcess, msisdn, provision, route_of
from loadtest.workers import Job, Monitor, Result, run_workers
from tarif_common import keys
from tarif_common.embedded import EmbeddedRedis

Log = Callable[[str], None]
WARMUP_LIMIT = 60.0  # seconds the warm-up may take at most
MEMORY_SAMPLE = 200  # subscribers whose keys are measured with MEMORY USAGE


@dataclass(frozen=True)
class Options:
    """Sizes of a run. Defaults fit ~2.5 minutes for both appendfsync modes on 2 cores."""

    quick: bool = False
    modes: tuple[str, ...] = ("always", "everysec")
    subscribers: int = 10_000
    duration: float = 10.0  # each gRPC phase
    raw_duration: float = 5.0  # each raw phase
    unary_workers: int = 1
    # Unary calls in flight, all workers together: enough to saturate the engine (32 already
    # does here) and below redis-py's default pool of 100 connections (see the report).
    concurrency: int = 64
    batch_workers: int = 1
    streams: int = 8  # per batch worker
    batch: int = 500
    workers: int = 1  # engine processes (`tarif engine --workers N`) on one gRPC port
    channels: int = 0  # connections per generator process; 0: 1 for one engine, else 4 per worker
    raw_single_window: int = 256  # events in flight over all connections
    raw_batch_window: int = 4_000  # one batch in flight per connection (8 x 500)
    raw_connections: int = 16  # single events; batches use one connection per engine stream

    @classmethod
    def make(cls, quick: bool, modes: tuple[str, ...], **overrides: Any) -> Options:
        base = {"subscribers": 1_000, "duration": 3.0, "raw_duration": 1.5}
        values = {**(base if quick else {}), **{k: v for k, v in overrides.items() if v}}
        return cls(quick=quick, modes=modes, **values)

    @property
    def connections(self) -> int:
        """Connections per generator process: the kernel spreads connections, not calls, over
        engine workers, so several workers need several connections each."""
        return self.channels or (1 if self.workers == 1 else 4 * self.workers)


def phase_of(name: str, results: list[Result], cpu: dict[str, float], seconds: float) -> Phase:
    """A phase's figures from its generators' merged results and the CPU of its window."""
    merged = clients.merge(results)
    phase = Phase(
        name=name,
        seconds=seconds,
        events=int(merged.get("events", 0)),
        success=int(merged["results"].get(report.SUCCESS, 0)),
        errors=dict(merged["errors"]),
        latency_ms=clients.summary(merged.get("latencies", [])),
        cpu={**cpu, "generator": float(merged.get("cpu", 0.0))},
    )
    return phase


def _timed_phase(
    name: str, job: Job, specs: list[dict[str, Any]], seconds: float, monitor: Monitor
) -> tuple[Phase, list[Result]]:
    results, window = run_workers(job, specs, seconds, monitor)
    return phase_of(name, results, window.cpu, seconds), results


def _open_loop(base: Phase, results: list[Result], rate: float) -> OpenLoop:
    merged = clients.merge(results)
    lags = clients.summary(merged.get("lags", []))
    return OpenLoop(
        **vars(base),
        offered_rate=rate,
        offered=int(merged["offered"]),
        skipped=int(merged["skipped"]),
        scheduled_p99_ms=clients.summary(merged.get("scheduled_latencies", []))["p99_ms"],
        lag_p99_ms=lags["p99_ms"],
        lag_max_ms=lags["max_ms"],
    )


def _memory(client: redis.Redis, subscribers: int) -> Memory:
    """Average MEMORY USAGE (exact: SAMPLES 0) of account hash + route key over a sample."""
    step = max(1, subscribers // MEMORY_SAMPLE)
    indexes = list(range(0, subscribers, step))[:MEMORY_SAMPLE]
    account = route = 0
    for index in indexes:
        partition, account_id = route_of(index)
        account += int(client.memory_usage(keys.account(partition, account_id), samples=0) or 0)
        route += int(client.memory_usage(keys.route(msisdn(index)), samples=0) or 0)
    return Memory(account / len(indexes), route / len(indexes), len(indexes))


def _one_idempotency_key(client: redis.Redis) -> int:
    cursor = 0
    for _ in range(1_000):  # bounded SCAN
        cursor, found = client.scan(cursor, match="tarif:{p*}:i:*", count=1_000)
        if found:
            return int(client.memory_usage(found[0], samples=0) or 0)
        if cursor == 0:
            break
    return 0


def _streams(client: redis.Redis, partitions: int) -> tuple[int, int]:
    return raw.rated_streams(client, partitions)  # a chunk's records are one entry


def _info(client: redis.Redis, section: str, name: str) -> int:
    return int(client.info(section)[name])


def _specs(common: dict[str, Any], count: int, **extra: Any) -> list[dict[str, Any]]:
    """Specs of `count` workers; the tag keeps event ids unique across phases and workers."""
    tag = uuid.uuid4().hex[:8]
    return [{**common, **extra, "seed": i, "tag": f"{tag}{i}"} for i in range(count)]


def _again(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same worker specs with fresh tags, for a second phase driven identically."""
    tag = uuid.uuid4().hex[:8]
    return [{**spec, "tag": f"{tag}{spec['seed']}"} for spec in specs]


def _check_engine(
    engine: EngineProcess, figures: RunFigures, phase: str, monitor: Monitor, say: Log
) -> None:
    """If the engine stopped on its own during `phase`, record why and start a fresh one.

    Seen under overload: a background task dies on a Redis error and the engine stops itself.
    Restarting keeps the remaining phases measurable; the report lists every incident.
    """
    code = engine.exited()
    if code is None:
        return
    critical = [line for line in engine.log_tail(20) if '"critical"' in line or "CRITICAL" in line]
    detail = critical[-1] if critical else " | ".join(engine.log_tail(2))
    figures.incidents.append(f"during {phase}: engine exited with code {code}; log: {detail}")
    say(f"engine stopped during {phase} (code {code}); restarting it")
    engine.restart()
    monitor.watch("engine", engine.pid)


def _measure(
    opts: Options,
    figures: RunFigures,
    engine: EngineProcess,
    floor: FloorProcess,
    redis_port: int,
    monitor: Monitor,
    say: Log,
) -> None:
    """Warm-up, then every phase, with the engine's peak RSS over the gRPC ones.

    The floor runs (its own process, started and stopped here) right after each engine phase,
    with the same generator specs aimed at it. Each raw phase runs right after its engine
    counterpart: Redis gets slower per event as the
    data set grows (measured: up to ~40% over a run), so only neighbours compare fairly. The
    open loop runs at half the unary peak just measured (the latency target), then at the peak,
    last: it may overload the engine.
    """
    common = {
        "target": engine.target,
        "subscribers": opts.subscribers,
        "channels": opts.connections,
    }
    raw_common = {
        "host": "127.0.0.1",
        "port": redis_port,
        "subscribers": opts.subscribers,
        "quote": raw.sms_quote(),
        "duration": opts.raw_duration,
    }

    def phase(
        name: str, job: Job, specs: list[dict[str, Any]], server: EngineProcess = engine
    ) -> tuple[Phase, list[Result]]:
        seconds = specs[0]["duration"]
        if job is not raw.raw_job:
            for spec in specs:
                spec["target"] = server.target  # a restarted engine listens elsewhere
        say(f"{name} {seconds:g} s")
        measured = _timed_phase(name, job, specs, seconds, monitor)
        _check_engine(engine, figures, name, monitor, say)
        return measured

    say("warm-up: every subscriber charged once")
    warm = _specs(common, 1, duration=WARMUP_LIMIT, batch=opts.batch)
    results, _ = run_workers(clients.warm_job, warm, 0.0, collect_timeout=WARMUP_LIMIT + 15)
    if results[0]["events"] < opts.subscribers:
        say(f"warm-up reached {results[0]['events']:,} subscribers only")
    monitor.reset_peak()
    per = max(1, opts.concurrency // opts.unary_workers)
    unary = _specs(common, opts.unary_workers, duration=opts.duration, concurrency=per)
    figures.unary, _ = phase("unary", clients.unary_job, unary)
    say("starting the bare gRPC floor")
    floor.start()
    monitor.watch("floor", floor.pid)
    # The same specs, a fresh tag: the floor does not check event ids, but keep them unique.
    figures.floor_unary, _ = phase("floor unary", clients.unary_job, _again(unary), floor)
    single = _specs(
        raw_common, 1, batch=1, window=opts.raw_single_window, connections=opts.raw_connections
    )
    figures.raw_single, _ = phase("raw single", raw.raw_job, single)
    batched = _specs(
        common, opts.batch_workers, duration=opts.duration, streams=opts.streams, batch=opts.batch
    )
    figures.batch, _ = phase("batched", clients.batch_job, batched)
    figures.floor_batch, _ = phase("floor batched", clients.batch_job, _again(batched), floor)
    floor.stop()
    raw_batched = _specs(
        raw_common, 1, batch=opts.batch, window=opts.raw_batch_window, connections=opts.streams
    )
    figures.raw_batch, _ = phase("raw batched", raw.raw_job, raw_batched)
    half, peak = open_loop_rates(figures.unary)
    for rate in (half, peak):
        spec = _specs(common, 1, duration=opts.duration, rate=rate)
        open_loop = _open_loop(
            *phase(f"open loop {rate:,.0f}/s", clients.open_loop_job, spec), rate
        )
        if rate == half:
            figures.latency_half = open_loop
        else:
            figures.latency = open_loop
    figures.engine_rss_max = monitor.max_rss.get("engine", 0)
    figures.engine_rss_max_process = monitor.max_rss_process.get("engine", 0)


def open_loop_rates(unary: Phase | None) -> tuple[float, float]:
    """(half the unary peak, the peak): the open loop's offered rates, from the closed-loop
    unary phase measured just before in the same run (at least 1 req/s each)."""
    peak = max(2.0, round(unary.rate) if unary else 0.0)
    return peak / 2, peak


def _measure_memory_after(client: redis.Redis, figures: RunFigures, used_before: int) -> None:
    figures.memory_after = _memory(client, figures.subscribers)
    figures.idempotency_key_bytes = _one_idempotency_key(client)
    partitions = int(client.hget(keys.META, "partitions") or PARTITIONS)
    records, stream_bytes = _streams(client, partitions)
    figures.rated_records = records
    figures.stream_bytes_per_record = stream_bytes / records if records else 0.0
    grown = _info(client, "memory", "used_memory") - used_before
    figures.used_memory_per_event = grown / records if records else 0.0


def run_mode(opts: Options, appendfsync: str, log: Callable[[str], None]) -> RunFigures:
    """One full run with its own Redis and engine; both are stopped whatever happens."""
    figures = RunFigures(appendfsync, opts.subscribers, workers=opts.workers)

    def say(message: str) -> None:
        log(f"[{appendfsync}] {message}")

    with tempfile.TemporaryDirectory(prefix="tarif-bench-") as tmp, contextlib.ExitStack() as stack:
        server = stack.enter_context(EmbeddedRedis(Path(tmp) / "redis", appendfsync=appendfsync))
        client = stack.enter_context(redis.Redis.from_url(server.url))
        figures.server = _server_version(client)
        # A background AOF rewrite forks a child that takes a whole core for seconds: on a
        # 2-core machine it would land in a random phase. Off for the run, reported as `forks`.
        client.config_set("auto-aof-rewrite-percentage", 0)
        say(f"provisioning {opts.subscribers:,} subscribers")
        figures.provision_seconds = asyncio.run(provision(server.url, opts.subscribers))
        figures.memory_before = _memory(client, opts.subscribers)
        used_before = _info(client, "memory", "used_memory")
        forks_before = _info(client, "stats", "total_forks")
        engine = EngineProcess(server.url, Path(tmp), workers=opts.workers)
        stack.callback(_stop_engine, engine, say)
        engine.start()
        floor = FloorProcess(server.url, Path(tmp))
        stack.callback(floor.stop)  # stopped by _measure already, unless a phase failed
        assert server.pid is not None
        with Monitor({"engine": engine.pid, "redis": server.pid}) as monitor:
            figures.engine_rss_idle = monitor.rss().get("engine", 0)
            _measure(opts, figures, engine, floor, server.port, monitor, say)
        _measure_memory_after(client, figures, used_before)
        figures.forks = _info(client, "stats", "total_forks") - forks_before
    return figures


def _stop_engine(engine: EngineProcess, log: Callable[[str], None]) -> None:
    code = engine.stop()
    if code not in (None, 0):
        tail = engine.log_path.read_text(errors="replace")[-2000:]
        log(f"engine exited with code {code}; its log ends with:\n{tail}")


def _server_version(client: redis.Redis) -> str:
    info = client.info("server")
    name = "Valkey" if "valkey_version" in info else "Redis"
    version = info.get("valkey_version") or info.get("redis_version")
    return f"embedded {name} {version} (AOF on, appendfsync per column, RDB off)"


def _settings(opts: Options) -> list[str]:
    return [
        f"- {opts.subscribers:,} subscribers, 16 partitions, each one account with 3 balances "
        "(1,000,000.00 EUR, 1,000,000 voice seconds, 1,000 SMS); demo catalog "
        "(examples/demo.yaml); all events are SMS (1 unit, destination 38641000000).",
        f"- Engine: `tarif engine{f' --workers {opts.workers}' if opts.workers > 1 else ''}` "
        "subprocess, default settings (log level WARNING); its CPU and RSS are summed over its "
        "worker processes. Warm-up: every subscriber charged once (batches) so the route cache "
        f"is warm. Each generator process opens {opts.connections} connection(s).",
        f"- Unary: {opts.unary_workers} generator process(es), {opts.concurrency} calls in flight, "
        f"{opts.duration:g} s. Batched: {opts.batch_workers} process(es) x {opts.streams} "
        f"streams, one batch of {opts.batch} in flight per stream, {opts.duration:g} s.",
        "- Bare gRPC floor: `python -m loadtest.floor`, a grpc.aio process (uvloop) with the "
        "engine's server options whose ChargeEvent and ChargeEvents only decode the request and "
        "answer SUCCESS per event (no interceptor, no Redis); driven by the unary and batched "
        "generators above with the same settings, right after each engine phase. Engine / floor "
        "is what the engine keeps of what one grpc.aio process can answer here (one floor "
        "process whatever `--workers` is).",
        "- Open loop: at half the unary peak measured in the same run (the target), then at "
        f"the peak (last, as it may overload the engine), {opts.duration:g} s each, from one "
        "generator process, sends planned at fixed times "
        "whatever the answers do; latency from the actual send (the planned-time p99 is also "
        "shown); the generator fell behind if its sends were late by more than "
        f"{report.LAG_LIMIT_MS:g} ms at p99. If the engine stops on its own it is restarted for "
        "the next phase and the incident is listed.",
        f"- Raw: event.lua via EVALSHA from one process on pipelined connections, "
        f"{opts.raw_duration:g} s each; single events: {opts.raw_single_window} in flight over "
        f"{opts.raw_connections} connections; batches of {opts.batch} (split per partition into "
        f"chunks of {raw.BATCH_CHUNK}, as the engine does): {opts.raw_batch_window} events in "
        f"flight over {opts.streams} connections.",
        "- Redis: a fresh embedded server per column, AOF auto-rewrite off for the run (a rewrite "
        "forks a child that takes a core for seconds; it would land in a random phase).",
        "- Only answers received inside each phase's window count; load generators are separate "
        "processes (spawned, uvloop, grpc.aio) sending pre-encoded requests.",
    ]


def run_benchmark(opts: Options, out: Path | None, command: str) -> tuple[list[RunFigures], str]:
    """Run every mode, render the report, write it to `out` if given; returns both."""
    began = time.monotonic()

    def log(message: str) -> None:
        print(f"{time.monotonic() - began:6.1f}s {message}", file=sys.stderr, flush=True)

    runs = [run_mode(opts, mode, log) for mode in opts.modes]
    text = report.render(runs, command, _settings(opts), runs[0].server)
    text += f"\nTotal benchmark time: {time.monotonic() - began:.0f} s.\n"
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        previous = out.read_text() if out.exists() else None
        out.write_text(report.with_analysis(text, previous))
        log(f"report written to {out}")
    return runs, text


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 subscribers, 3 s phases")
    parser.add_argument("--appendfsync", choices=("always", "everysec", "both"), default="both")
    parser.add_argument("--out", type=Path, help="report file (default docs/benchmarks.md)")
    parser.add_argument("--subscribers", type=int)
    parser.add_argument("--duration", type=float, help="seconds per gRPC phase")
    parser.add_argument("--unary-workers", type=int, help="unary generator processes")
    parser.add_argument("--concurrency", type=int, help="unary calls in flight in all")
    parser.add_argument("--streams", type=int, help="ChargeEvents streams per batch worker")
    parser.add_argument("--workers", type=int, help="engine processes (tarif engine --workers)")
    parser.add_argument("--channels", type=int, help="connections per generator process")
    parser.add_argument(
        "--cluster", action="store_true", help="one Redis and a 3-master cluster side by side"
    )
    args = parser.parse_args(argv)
    modes = ("always", "everysec") if args.appendfsync == "both" else (args.appendfsync,)
    opts = Options.make(
        args.quick,
        modes,
        subscribers=args.subscribers,
        duration=args.duration,
        unary_workers=args.unary_workers,
        concurrency=args.concurrency,
        streams=args.streams,
        workers=args.workers,
        channels=args.channels,
    )
    out = args.out if args.out or args.quick else REPO / "docs" / "benchmarks.md"
    command = shlex.join(["python", "-m", "loadtest.bench", *sys.argv[1:]] if argv is None else
                         ["python", "-m", "loadtest.bench", *argv])  # fmt: skip
    signal.signal(signal.SIGTERM, _interrupt)  # a `kill` cleans up like Ctrl-C does
    try:
        if args.cluster:  # loadtest/cluster_bench.py (its own report)
            from loadtest import cluster_bench

            o = opts
            text = cluster_bench.run(
                subscribers=o.subscribers, duration=o.duration, concurrency=o.concurrency,
                streams=o.streams, batch=o.batch, out=args.out, command=command,
            )  # fmt: skip
        else:
            _, text = run_benchmark(opts, out, command)
    except KeyboardInterrupt:
        print("interrupted; engine and Redis stopped", file=sys.stderr)
        return 130
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
