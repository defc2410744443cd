"""`python -m loadtest.bench --cluster`: the engine on a local 3-master Redis Cluster.

Side by side in one run, in the order one Redis, cluster, cluster, one Redis (so a machine busy
in one half weighs on both alike): an embedded Redis and an embedded 3-master cluster
(`EmbeddedCluster`), appendfsync everysec on both. Each gets the same subscribers, a
`tarif engine` subprocess pointed at it (`REDIS_URL`, the cluster as `redis+cluster://`), a
warm-up, then the unary and the batched ChargeEvent phases of the main bench. The raw, floor,
open-loop and memory phases stay single-server (they talk to one Redis port). On one machine
the three masters share its cores with the engine: this checks that the engine runs on a
cluster and what the client-side routing costs, not how a cluster scales.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest import clients
from loadtest import report as report_format
from loadtest.setup import EngineProcess, provision
from loadtest.workers import Monitor, run_workers
from tarif_common.embedded import EmbeddedRedis
from tarif_common.embedded_cluster import EmbeddedCluster

WARMUP_LIMIT = 60.0


@dataclass(frozen=True)
class Sizes:
    subscribers: int
    duration: float
    concurrency: int
    streams: int
    batch: int


@dataclass
class Figures:
    target: str  # "single" or "cluster"
    unary: float = 0.0  # events/s answered SUCCESS
    unary_p99_ms: float = 0.0
    batched: float = 0.0
    errors: int = 0


@contextlib.contextmanager
def _server(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "cluster":
        with EmbeddedCluster(workdir / "cluster", appendfsync="everysec") as cluster:
            yield cluster.url
    else:
        with EmbeddedRedis(workdir / "redis", appendfsync="everysec") as server:
            yield server.url


def _phase(job: Any, specs: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    results, _ = run_workers(job, specs, seconds)
    return clients.merge(results)


def run_target(kind: str, sizes: Sizes, say: Callable[[str], None]) -> Figures:
    figures = Figures(kind)
    with tempfile.TemporaryDirectory(prefix="tarif-cluster-bench-") as tmp:
        workdir = Path(tmp)
        with _server(kind, workdir) as url, contextlib.ExitStack() as stack:
            say(f"[{kind}] provisioning {sizes.subscribers:,} subscribers")
            asyncio.run(provision(url, sizes.subscribers))
            engine = EngineProcess(url, workdir)
            stack.callback(engine.stop)
            engine.start()
            common = {"target": engine.target, "subscribers": sizes.subscribers}
            tag = uuid.uuid4().hex[:8]
            say(f"[{kind}] warm-up")
            warm = [
                {
                    **common,
                    "seed": 0,
                    "tag": f"w{tag}",
                    "duration": WARMUP_LIMIT,
                    "batch": sizes.batch,
                }
            ]
            run_workers(clients.warm_job, warm, 0.0, collect_timeout=WARMUP_LIMIT + 15)
            with Monitor({"engine": engine.pid}):
                say(f"[{kind}] unary {sizes.duration:g} s")
                unary = _phase(
                    clients.unary_job,
                    [
                        {
                            **common,
                            "seed": 0,
                            "tag": f"u{tag}",
                            "duration": sizes.duration,
                            "concurrency": sizes.concurrency,
                        }
                    ],
                    sizes.duration,
                )
                say(f"[{kind}] batched {sizes.duration:g} s")
                batched = _phase(
                    clients.batch_job,
                    [
                        {
                            **common,
                            "seed": 0,
                            "tag": f"b{tag}",
                            "duration": sizes.duration,
                            "streams": sizes.streams,
                            "batch": sizes.batch,
                        }
                    ],
                    sizes.duration,
                )
    success = report_format.SUCCESS
    figures.unary = unary["results"].get(success, 0) / sizes.duration
    figures.unary_p99_ms = clients.summary(unary.get("latencies", []))["p99_ms"]
    figures.batched = batched["results"].get(success, 0) / sizes.duration
    figures.errors = sum(unary["errors"].values()) + sum(batched["errors"].values())
    figures.errors += sum(n for r, n in unary["results"].items() if r != success)
    figures.errors += sum(n for r, n in batched["results"].items() if r != success)
    return figures


def _mean(runs: list[Figures], target: str) -> Figures:
    mine = [r for r in runs if r.target == target]
    return Figures(
        target,
        unary=sum(r.unary for r in mine) / len(mine),
        unary_p99_ms=sum(r.unary_p99_ms for r in mine) / len(mine),
        batched=sum(r.batched for r in mine) / len(mine),
        errors=sum(r.errors for r in mine),
    )


def report(runs: list[Figures], sizes: Sizes, command: str) -> str:
    single, cluster = runs
    lines = [
        "# Benchmark: one Redis and a 3-master Redis Cluster",
        "",
        f"`{command}`; {sizes.subscribers:,} subscribers, {sizes.duration:g} s per phase, "
        f"{sizes.concurrency} unary calls in flight, {sizes.streams} streams of batches of "
        f"{sizes.batch}; appendfsync everysec; every server on this machine; each target run"
        " twice (one Redis, cluster, cluster, one Redis), means shown.",
        "",
        "| | one Redis | 3-master cluster | cluster / one |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, a, b in (
        ("unary events/s", single.unary, cluster.unary),
        ("unary p99 ms", single.unary_p99_ms, cluster.unary_p99_ms),
        ("batched events/s", single.batched, cluster.batched),
    ):
        ratio = f"{b / a:.2f}" if a else "-"
        lines.append(f"| {name} | {a:,.0f} | {b:,.0f} | {ratio} |")
    lines.append(f"| answers not SUCCESS | {single.errors:,} | {cluster.errors:,} | |")
    return "\n".join(lines) + "\n"


def run(
    *,
    subscribers: int,
    duration: float,
    concurrency: int,
    streams: int,
    batch: int,
    out: Path | None,
    command: str,
) -> str:
    """Both targets, one after the other; the report is returned and written to `out`."""
    sizes = Sizes(subscribers, duration, concurrency, streams, batch)
    # A B B A: each target once early and once late, so a machine busy in one half of the run
    # weighs on both alike; the report gives each target's mean.
    runs = [run_target(kind, sizes, print) for kind in ("single", "cluster", "cluster", "single")]
    text = report([_mean(runs, "single"), _mean(runs, "cluster")], sizes, command)
    if out is not None:
        out.write_text(text)
    return text
