"""Profile the engine under load and compare builds of it: `python -m loadtest.profile`.

Starts one embedded Redis (the demo catalog, N subscribers), then for each engine build (this
checkout, plus `--compare NAME=DIR` checkouts of other commits) a `tarif engine` subprocess, and
drives it with the benchmark's unary and batched generators (`loadtest.clients`). With `--spy`,
one pass per build runs `py-spy record` on the engine during each phase and writes the top
functions by own and total samples (`summarise`); then `--rounds` measurement passes without
py-spy alternate the builds (and the bare gRPC floor, `loadtest.floor`), so that all share the
same machine state: this machine is busy, so only figures taken side by side compare. CPU per
event is the engine process's user + system time (/proc, psutil) over the phase's window.

Writes `<out>/<build>-<phase>.txt` (summary) and `.raw` (py-spy's collapsed stacks) per
profiled phase and prints a Markdown table of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from loadtest import clients
from loadtest.floor import FloorProcess
from loadtest.setup import EngineProcess, provision
from loadtest.workers import Job, Monitor, run_workers
from tarif_common.embedded import EmbeddedRedis

Log = Callable[[str], None]
TOP = 25  # functions per table of a summary
_FRAME = re.compile(r"^(?P<name>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


@dataclass
class CheckoutEngine(EngineProcess):
    """`tarif engine` importing its modules from another checkout first (None: this one)."""

    source: Path | None = None
    label: str = "engine"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"engine-{self.label}.log"

    def command(self) -> list[str]:
        if self.source is None:
            return super().command()
        code = (
            f"import sys; sys.path.insert(0, {str(self.source)!r}); "
            "from tarif_cli.main import main; sys.exit(main())"
        )
        return [sys.executable, "-c", code, "engine"]


@dataclass
class Sample:
    """One phase of one build in one round."""

    build: str
    phase: str
    events: int
    seconds: float
    cpu: float  # engine CPU seconds in the window
    store_calls: float = 0.0  # event script round trips (the engine's metrics), 0: unknown

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.events * 1e6 if self.events else 0.0


def store_calls(server: EngineProcess) -> float:
    """Event round trips to Redis so far (`tarif_engine_redis_script_seconds_count`); 0 if
    the server has no metrics (the floor)."""
    url = f"http://127.0.0.1:{server.metrics_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "tarif_engine_redis_script_seconds_count" and (
                sample.labels.get("script") == "event"
            ):
                return float(sample.value)
    return 0.0


@dataclass
class Profile:
    """py-spy's collapsed stacks, folded into own and total samples per function."""

    samples: int = 0
    own: Counter[str] = field(default_factory=Counter)
    total: Counter[str] = field(default_factory=Counter)
    groups: Counter[str] = field(default_factory=Counter)  # own samples by package
    layers: Counter[str] = field(default_factory=Counter)  # samples by layer (`layer`)


# Packages that name a layer, and how the summary calls it.
LAYERS = {
    "redis": "redis-py (with the asyncio streams it calls)",
    "hiredis": "redis-py (with the asyncio streams it calls)",
    "tarif_balances": "store (tarif_balances)",
    "msgpack": "store (tarif_balances)",
    "prometheus_client": "metrics (prometheus_client)",
    "tarif_catalog": "rating (tarif_catalog)",
    "engine": "engine (edge, servicer, convert, charger, coalescer)",
    "tarif_common": "engine (edge, servicer, convert, charger, coalescer)",
}


def layer(frames: list[tuple[str, str]]) -> str:
    """The layer a stack's sample is spent in: the innermost frame of a package in LAYERS;
    else a thread's own work, or native code under the event loop (no Python frame: gRPC's
    Cython core, uvloop, C asyncio), or other Python."""
    for _, package in reversed(frames):
        if package in LAYERS:
            return LAYERS[package]
    names = [name for name, _ in frames]
    if any(name.startswith("Thread.run") for name in names):
        return "threads (gRPC's poller)"
    if names[-1].startswith("Runner.run"):
        return "native under the event loop (gRPC core, uvloop, C asyncio)"
    return "other Python (asyncio, grpc.aio, stdlib)"


def frame_name(frame: str) -> tuple[str, str]:
    """(`function (file)`, package) of a py-spy frame `function (path/file.py:line)`."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), "?"
    path = match["file"]
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif "/lib/python3" in path:
        path = "stdlib/" + path.split("/lib/python3", 1)[1].split("/", 1)[-1]
    for prefix in ("/work/", str(Path.cwd()) + "/"):
        if path.startswith(prefix):
            path = path.removeprefix(prefix)
    package = path.split("/", 1)[0] if "/" in path else path
    if package == "stdlib":
        package = "stdlib/" + path.split("/")[1]
    return f"{match['name']} ({path})", package


def fold(lines: Iterable[str]) -> Profile:
    """Fold py-spy `--format raw` lines (`frame;frame;...;leaf count`)."""
    profile = Profile()
    for line in lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_name(f) for f in stack.split(";") if f]
        if not frames:
            continue
        profile.samples += count
        leaf, package = frames[-1]
        profile.own[leaf] += count
        profile.groups[package] += count
        profile.layers[layer(frames)] += count
        for name in {name for name, _ in frames}:
            profile.total[name] += count
    return profile


def summarise(profile: Profile, title: str) -> str:
    """Text tables: samples by layer, own samples by package, then the top functions by own
    and by total samples."""
    n = max(1, profile.samples)
    out = [f"# {title}: {profile.samples} samples", "", "## Samples by layer"]
    out += [f"{c / n:6.1%}  {name}" for name, c in profile.layers.most_common()]
    out += ["", "## Own samples by package"]
    out += [f"{c / n:6.1%}  {name}" for name, c in profile.groups.most_common()]
    for label, counter in (("own", profile.own), ("total", profile.total)):
        out += ["", f"## Top {TOP} functions by {label} samples"]
        out += [f"{c / n:6.1%}  {name}" for name, c in counter.most_common(TOP)]
    return "\n".join(out) + "\n"


@contextlib.contextmanager
def spying(pid: int | None, raw: Path, rate: int, native: bool = False) -> Iterator[None]:
    """py-spy record on `pid` for the body of the `with` (stopped with SIGINT, as Ctrl-C).

    Without `native` it samples without pausing the engine (`--nonblocking`), and time in
    native code (gRPC's Cython core, uvloop, C-accelerated asyncio) counts as the innermost
    Python frame's own time; `native` names those native frames but pauses the engine at each
    sample, which slows it down."""
    if pid is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    command = [spy, "record", "--pid", str(pid), "--rate", str(rate)]
    command.append("--native" if native else "--nonblocking")
    command += ["--format", "raw", "--output", str(raw)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass(frozen=True)
class Plan:
    subscribers: int
    duration: float
    phases: tuple[str, ...]
    concurrency: int
    streams: int
    batch: int


def _specs(plan: Plan, target: str, **extra: Any) -> list[dict[str, Any]]:
    spec = {"target": target, "subscribers": plan.subscribers, "duration": plan.duration}
    return [{**spec, **extra, "seed": 0, "tag": uuid.uuid4().hex[:10]}]


def _phases(plan: Plan) -> list[tuple[str, Job, dict[str, Any]]]:
    every: list[tuple[str, Job, dict[str, Any]]] = [
        ("unary", clients.unary_job, {"concurrency": plan.concurrency}),
        ("batched", clients.batch_job, {"streams": plan.streams, "batch": plan.batch}),
    ]
    return [phase for phase in every if phase[0] in plan.phases]


def measure(
    server: EngineProcess,
    build: str,
    plan: Plan,
    say: Log,
    spy: tuple[Path, int] | None = None,
    native: bool = False,
) -> list[Sample]:
    """Every phase against a started `server`; with `spy` (directory, rate) under py-spy."""
    samples = []
    for phase, job, extra in _phases(plan):
        raw = spy[0] / f"{build}-{phase}.raw" if spy else Path(os.devnull)
        say(f"{build} {phase}{' (py-spy)' if spy else ''}")
        calls_before = store_calls(server)
        with (
            Monitor({"engine": server.pid}) as monitor,
            spying(server.pid if spy else None, raw, spy[1] if spy else 0),
        ):
            results, window = run_workers(
                job, _specs(plan, server.target, **extra), plan.duration, monitor
            )
            events = int(clients.merge(results).get("events", 0))
        calls = store_calls(server) - calls_before
        sample = Sample(build, phase, events, plan.duration, window.cpu.get("engine", 0.0), calls)
        samples.append(sample)
        per_call = f", {events / calls:,.1f} events per store call" if calls > 0 else ""
        say(
            f"  {sample.rate:,.0f} events/s, {sample.cpu_us:,.0f} us engine CPU per event{per_call}"
        )
        if spy:
            text = summarise(fold(raw.read_text().splitlines()), f"{build} {phase}")
            raw.with_suffix(".txt").write_text(text)
    return samples


def _table(samples: list[Sample], baseline: str | None) -> str:
    """Markdown: one row per build and phase, range over the rounds, medians' ratios to the
    baseline's (events/s, CPU per event) and to the floor's (events/s)."""
    medians: dict[tuple[str, str], float] = {}
    cpu_medians: dict[tuple[str, str], float] = {}
    groups: dict[tuple[str, str], list[Sample]] = {}
    for sample in samples:
        groups.setdefault((sample.build, sample.phase), []).append(sample)
    for key, group in groups.items():
        rates = sorted(s.rate for s in group)
        medians[key] = rates[len(rates) // 2]
        cpus = sorted(s.cpu_us for s in group)
        cpu_medians[key] = cpus[len(cpus) // 2]
    rows = [
        "| build | phase | events/s (min-max) | median | CPU us/event (min-max) "
        f"| events/store call | events/s / {baseline or '-'} | CPU/event / {baseline or '-'} "
        "| events/s / floor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (build, phase), group in groups.items():
        rates = [s.rate for s in group]
        cpus = [s.cpu_us for s in group]
        base = medians.get((baseline or "", phase))
        floor = medians.get(("floor", phase))
        median = medians[(build, phase)]
        cpu_base = cpu_medians.get((baseline or "", phase))
        cpu_ratio = cpu_medians[(build, phase)] / cpu_base if cpu_base else 0
        calls = sum(s.store_calls for s in group)
        grouped = f"{sum(s.events for s in group) / calls:,.1f}" if calls else "-"
        rows.append(
            f"| {build} | {phase} | {min(rates):,.0f}-{max(rates):,.0f} | {median:,.0f} "
            f"| {min(cpus):,.0f}-{max(cpus):,.0f} | {grouped} "
            f"| {median / base if base else 0:.2f} | {cpu_ratio:.2f} "
            f"| {median / floor if floor else 0:.2f} |"
        )
    return "\n".join(rows) + "\n"


def _warm(target: str, subscribers: int) -> None:
    spec = {"target": target, "subscribers": subscribers, "duration": 60.0, "batch": 500}
    run_workers(clients.warm_job, [{**spec, "seed": 0, "tag": uuid.uuid4().hex[:10]}], 0.0)


def run(
    builds: dict[str, Path | None],
    plan: Plan,
    rounds: int,
    spy: int,
    floor: bool,
    out: Path,
    native: bool = False,
) -> str:
    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    samples: list[Sample] = []
    with (
        tempfile.TemporaryDirectory(prefix="tarif-profile-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        server = stack.enter_context(EmbeddedRedis(Path(tmp) / "redis", appendfsync="everysec"))
        say(f"provisioning {plan.subscribers:,} subscribers")
        asyncio.run(provision(server.url, plan.subscribers))
        engines: dict[str, EngineProcess] = {}
        for name, source in builds.items():
            engine = CheckoutEngine(server.url, Path(tmp), source=source, label=name)
            stack.callback(engine.stop)
            engine.start()
            _warm(engine.target, plan.subscribers)
            engines[name] = engine
        if floor:
            floor_process = FloorProcess(server.url, Path(tmp))
            stack.callback(floor_process.stop)
            floor_process.start()
            engines["floor"] = floor_process
        if spy:
            out.mkdir(parents=True, exist_ok=True)
            for name in builds:
                measure(engines[name], name, plan, say, (out, spy), native)
        for index in range(rounds):
            say(f"round {index + 1} of {rounds}")
            order = list(engines) if index % 2 == 0 else list(reversed(engines))
            for name in order:
                samples += measure(engines[name], name, plan, say)
    return _table(samples, next(iter(builds)) if len(builds) > 1 else None) if samples else ""


def _build(text: str) -> tuple[str, Path | None]:
    name, _, path = text.partition("=")
    if not path:
        raise argparse.ArgumentTypeError("expected NAME=DIR")
    return name, Path(path).resolve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.profile", description=__doc__)
    parser.add_argument(
        "--compare",
        type=_build,
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="another checkout's engine (the first is the baseline)",
    )
    parser.add_argument("--name", default="this", help="name of this checkout's engine")
    parser.add_argument("--rounds", type=int, default=3, help="measurement rounds (0: none)")
    parser.add_argument("--spy", type=int, default=0, metavar="HZ", help="py-spy rate (0: off)")
    parser.add_argument("--native", action="store_true", help="py-spy --native (pauses)")
    parser.add_argument("--phases", default="unary,batched", help="comma-separated")
    parser.add_argument("--no-floor", action="store_true", help="leave out the bare gRPC floor")
    parser.add_argument("--subscribers", type=int, default=2_000)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per phase")
    parser.add_argument("--concurrency", type=int, default=64, help="unary calls in flight")
    parser.add_argument("--streams", type=int, default=8, help="ChargeEvents streams")
    parser.add_argument("--batch", type=int, default=500, help="events per batch")
    parser.add_argument("--out", type=Path, default=Path("profile-out"))
    args = parser.parse_args(argv)
    builds: dict[str, Path | None] = dict(args.compare)
    builds[args.name] = None
    phases = tuple(args.phases.split(","))
    plan = Plan(args.subscribers, args.duration, phases, args.concurrency, args.streams, args.batch)
    table = run(builds, plan, args.rounds, args.spy, not args.no_floor, args.out, args.native)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
