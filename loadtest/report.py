"""Figures of a benchmark run and their Markdown report (targets with PASS/FAIL, ratios, CPU).

Kept apart from the orchestration so the numbers have one definition: what a figure means is
written once here, next to how it is printed.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata

MB = 1024 * 1024
# Everything after this line in the report file is hand-written analysis: a new run keeps it.
ANALYSIS_MARKER = "<!-- analysis: hand-written, kept when the figures above are regenerated -->"
SUCCESS = 1  # tarif.charging.v1.ResultCode.SUCCESS
# Open loop: sends later than this at p99 mean the generator fell behind (the size of the
# latency target: smaller lags are timer jitter, ~1 ms with uvloop, and CPU sharing).
LAG_LIMIT_MS = 10.0


@dataclass
class Phase:
    """One timed window of load: counts of answers inside it and where the CPU went."""

    name: str
    seconds: float
    events: int = 0
    success: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)  # p50_ms, p99_ms, max_ms
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds in the window

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def success_share(self) -> float:
        return self.success / self.events if self.events else 0.0

    def cores(self, process: str) -> float:
        """Average cores busy in `process` during the window (1.0 = one core flat out)."""
        return self.cpu.get(process, 0.0) / self.seconds if self.seconds else 0.0


@dataclass
class OpenLoop(Phase):
    offered_rate: float = 0.0
    offered: int = 0
    skipped: int = 0  # not sent: too many in flight
    scheduled_p99_ms: float = 0.0  # latency counted from the planned send time
    lag_p99_ms: float = 0.0  # how late the generator sent, versus plan
    lag_max_ms: float = 0.0

    @property
    def fell_behind(self) -> bool:
        """The generator did not keep its schedule, so the rate was not really offered.

        About sending only: slow answers are the engine's latency, not the generator's fault.
        """
        return self.skipped > 0 or self.lag_p99_ms > LAG_LIMIT_MS


@dataclass
class Memory:
    """Redis bytes per subscriber (account hash + route key), by MEMORY USAGE over a sample."""

    account: float = 0.0
    route: float = 0.0
    sampled: int = 0

    @property
    def per_subscriber(self) -> float:
        return self.account + self.route


@dataclass
class RunFigures:
    appendfsync: str
    subscribers: int
    workers: int = 1  # engine processes (`tarif engine --workers N`)
    provision_seconds: float = 0.0
    unary: Phase | None = None
    batch: Phase | None = None
    latency: OpenLoop | None = None  # at the unary peak measured in the same run
    latency_half: OpenLoop | None = None  # at half that peak: the target's latency, not saturated
    raw_single: Phase | None = None
    raw_batch: Phase | None = None
    floor_unary: Phase | None = None  # the same generators against the bare gRPC floor
    floor_batch: Phase | None = None
    engine_rss_idle: int = 0  # all engine processes together
    engine_rss_max: int = 0  # all engine processes together, largest sample under load
    engine_rss_max_process: int = 0  # the largest one engine process under load
    memory_before: Memory = field(default_factory=Memory)
    memory_after: Memory = field(default_factory=Memory)
    idempotency_key_bytes: int = 0
    stream_bytes_per_record: float = 0.0
    used_memory_per_event: float = 0.0
    rated_records: int = 0
    forks: int = 0  # AOF rewrites (fork) during the run: they disturb latency
    server: str = ""  # Redis/Valkey version line
    incidents: list[str] = field(default_factory=list)  # the engine stopped on its own


@dataclass(frozen=True)
class Target:
    label: str
    value: Callable[[RunFigures], float]
    limit: float
    higher_is_better: bool
    unit: str
    detail: Callable[[RunFigures], str] | None = None  # what the cell also says (e.g. the rate)

    def passes(self, figures: RunFigures) -> bool:
        v = self.value(figures)
        return v >= self.limit if self.higher_is_better else v <= self.limit


def _phases(r: RunFigures) -> tuple[Phase | None, ...]:
    """In the order they run."""
    return (
        r.unary,
        r.floor_unary,
        r.raw_single,
        r.batch,
        r.floor_batch,
        r.raw_batch,
        r.latency_half,
        r.latency,
    )


def _rate(phase: Phase | None) -> float:
    return phase.rate if phase else 0.0


def _of(part: Phase | None, whole: Phase | None) -> float:
    """Rate of `part` as a share of `whole`'s (0 when either is missing)."""
    return _rate(part) / _rate(whole) if _rate(whole) else 0.0


def cpu_per_event_us(phase: Phase, process: str) -> float:
    """Microseconds of CPU `process` spent per answered event in the phase's window."""
    return phase.cpu.get(process, 0.0) / phase.events * 1e6 if phase.events else 0.0


def _p99(lo: OpenLoop | None) -> float:
    return lo.latency_ms.get("p99_ms", float("inf")) if lo and lo.events else float("inf")


def _offered(lo: OpenLoop | None) -> str:
    if lo is None:
        return "not run"
    behind = "; **the generator fell behind**" if lo.fell_behind else ""
    return f"at {_num(lo.offered_rate)} req/s{behind}"


def _rss_process(f: RunFigures) -> float:
    return (f.engine_rss_max_process or f.engine_rss_max) / MB


# The targets. Throughput floors are for the whole engine (all its workers); the unary
# one is relative to the bare gRPC floor measured in the same run, and the latency one is at
# half the unary peak of the same run, so both hold on any machine, busy or not.
TARGETS = (
    Target(
        "Unary ChargeEvent / bare gRPC floor (same run)",
        lambda f: _of(f.unary, f.floor_unary),
        0.7,
        True,
        "x floor",
        lambda f: f"{_num(_rate(f.unary))} / {_num(_rate(f.floor_unary))} events/s",
    ),
    Target("Batched ChargeEvents", lambda f: _rate(f.batch), 45_000, True, "events/s"),
    Target(
        "Raw atomic step (event.lua), batches of 500",
        lambda f: _rate(f.raw_batch),
        60_000,
        True,
        "events/s",
    ),
    Target(
        "Open-loop p99 at half the unary peak",
        lambda f: _p99(f.latency_half),
        5.0,
        False,
        "ms",
        lambda f: _offered(f.latency_half),
    ),
    Target("Engine RSS under load (largest process)", _rss_process, 200, False, "MB"),
    Target(
        "Redis per subscriber (3 balances)",
        lambda f: f.memory_before.per_subscriber,
        2048,
        False,
        "B",
    ),
)


def _num(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def target_cell(target: Target, figures: RunFigures) -> str:
    value = target.value(figures)
    verdict = "PASS" if target.passes(figures) else "**FAIL**"
    digits = {"ms": 2, "MB": 1, "x floor": 2}.get(target.unit, 0)
    shown = "n/a" if value == float("inf") else _num(value, digits)
    ratio = "n/a" if value == float("inf") else _ratio(value, target.limit)
    detail = f", {target.detail(figures)}" if target.detail else ""
    return f"{shown} ({ratio} x target{detail}) {verdict}"


def _phase_cells(runs: list[RunFigures], pick: Callable[[RunFigures], str]) -> str:
    return " | ".join(pick(run) for run in runs)


def _lat(phase: Phase | None, *names: str) -> str:
    if phase is None:
        return "n/a"
    return " / ".join(_num(phase.latency_ms.get(name, 0.0), 2) for name in names)


def _share(phase: Phase | None) -> str:
    return f"{phase.success_share:.2%}" if phase else "n/a"


def _errors(r: RunFigures) -> str:
    phases = _phases(r)
    parts = [
        f"{p.name}: " + ", ".join(f"{code} {count:,}" for code, count in sorted(p.errors.items()))
        for p in phases
        if p and p.errors
    ]
    return "; ".join(parts) or "none"


def _behind(lo: OpenLoop | None) -> str:
    if lo is None:
        return "n/a"
    verdict = "**yes**" if lo.fell_behind else "no"
    return f"{verdict} (send lag p99 {lo.lag_p99_ms:.2f} ms, max {lo.lag_max_ms:.1f} ms)"


def _answered(lo: OpenLoop | None) -> str:
    if lo is None:
        return "n/a"
    share = lo.events / lo.offered if lo.offered else 0.0
    return f"{_num(lo.events)} of {_num(lo.offered)} ({share:.1%})"


def _memory(m: Memory) -> str:
    return f"{_num(m.per_subscriber)} ({_num(m.account)} + {_num(m.route)})"


Row = tuple[str, Callable[[RunFigures], str]]


def _open_loop_rows(where: str, pick: Callable[[RunFigures], OpenLoop | None]) -> tuple[Row, ...]:
    prefix = f"Open loop at {where}"
    return (
        (f"{prefix}: offered, req/s", lambda r: _offered_rate(pick(r))),
        (f"{prefix}: answered (10 s timeout)", lambda r: _answered(pick(r))),
        (f"{prefix}: SUCCESS share", lambda r: _share(pick(r))),
        (
            f"{prefix}: latency p50 / p99 / max, ms",
            lambda r: _lat(pick(r), "p50_ms", "p99_ms", "max_ms"),
        ),
        (f"{prefix}: p99 from planned send time, ms", lambda r: _scheduled_p99(pick(r))),
        (f"{prefix}: generator fell behind?", lambda r: _behind(pick(r))),
    )


def _scheduled_p99(lo: OpenLoop | None) -> str:
    return _num(lo.scheduled_p99_ms, 2) if lo else "n/a"


def _offered_rate(lo: OpenLoop | None) -> str:
    return _num(lo.offered_rate) if lo else "n/a"


_ROWS: tuple[Row, ...] = (
    ("Unary ChargeEvent, events/s", lambda r: _num(_rate(r.unary))),
    ("Unary SUCCESS share", lambda r: _share(r.unary)),
    ("Unary latency at saturation p50 / p99, ms", lambda r: _lat(r.unary, "p50_ms", "p99_ms")),
    ("Batched ChargeEvents, events/s", lambda r: _num(_rate(r.batch))),
    ("Batched SUCCESS share", lambda r: _share(r.batch)),
    ("Batch (500) round trip p50 / p99, ms", lambda r: _lat(r.batch, "p50_ms", "p99_ms")),
    *_open_loop_rows("half the unary peak (the target)", lambda r: r.latency_half),
    *_open_loop_rows("the unary peak", lambda r: r.latency),
    ("Raw EVALSHA, single events, events/s", lambda r: _num(_rate(r.raw_single))),
    ("Raw EVALSHA, batches of 500, events/s", lambda r: _num(_rate(r.raw_batch))),
    (
        "Raw SUCCESS share (single / batched)",
        lambda r: f"{_share(r.raw_single)} / {_share(r.raw_batch)}",
    ),
    ("Bare gRPC floor, unary, events/s", lambda r: _num(_rate(r.floor_unary))),
    ("Bare gRPC floor, batches of 500, events/s", lambda r: _num(_rate(r.floor_batch))),
    ("Ratio unary engine / floor", lambda r: _ratio(_rate(r.unary), _rate(r.floor_unary))),
    ("Ratio batched engine / floor", lambda r: _ratio(_rate(r.batch), _rate(r.floor_batch))),
    ("Ratio unary engine / raw single", lambda r: _ratio(_rate(r.unary), _rate(r.raw_single))),
    ("Ratio batched engine / raw batched", lambda r: _ratio(_rate(r.batch), _rate(r.raw_batch))),
    ("Engine processes (`--workers`)", lambda r: str(r.workers)),
    (
        "Engine RSS idle / max under load, MB (all processes)",
        lambda r: f"{r.engine_rss_idle / MB:.1f} / {r.engine_rss_max / MB:.1f}",
    ),
    ("Engine RSS max under load, largest process, MB", lambda r: f"{_rss_process(r):.1f}"),
    ("Redis per subscriber before charging, B (hash + route)", lambda r: _memory(r.memory_before)),
    ("Redis per subscriber after charging, B (hash + route)", lambda r: _memory(r.memory_after)),
    ("One idempotency key (MEMORY USAGE), B", lambda r: _num(r.idempotency_key_bytes)),
    ("Rated-stream bytes per record", lambda r: _num(r.stream_bytes_per_record)),
    ("used_memory growth per charged event, B", lambda r: _num(r.used_memory_per_event)),
    ("Rated records written (all phases)", lambda r: _num(r.rated_records)),
    ("Errors (gRPC status, Redis error) by phase", _errors),
    ("AOF rewrites (forks) during the run (auto-rewrite off)", lambda r: str(r.forks)),
    ("Provisioning time, s", lambda r: _num(r.provision_seconds, 1)),
    (
        "Engine stopped on its own (restarted)",
        lambda r: f"**{len(r.incidents)} time(s)**" if r.incidents else "never",
    ),
)


CPU_PROCESSES = ("engine", "floor", "redis")  # the ones that answer; CPU per event is theirs


def _cpu_rows(runs: list[RunFigures]) -> list[str]:
    lines = [
        "| Phase | appendfsync | engine | floor | redis | generator | rest of machine | steal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        for phase in _phases(run):
            if phase is None:
                continue
            cells = [phase.cores(p) for p in (*CPU_PROCESSES, "generator")]
            rest = max(0.0, phase.cores("busy") - sum(cells))
            lines.append(
                f"| {phase.name} | {run.appendfsync} | "
                + " | ".join(f"{c:.2f}" for c in cells)
                + f" | {rest:.2f} | {phase.cores('steal'):.2f} |"
            )
    return lines


def _cpu_per_event_rows(runs: list[RunFigures]) -> list[str]:
    lines = [
        "| Phase | appendfsync | events/s | " + " | ".join(CPU_PROCESSES) + " |",
        "|---" * (3 + len(CPU_PROCESSES)) + "|",
    ]
    for run in runs:
        for phase in _phases(run):
            if phase is None:
                continue
            cells = " | ".join(_num(cpu_per_event_us(phase, p), 1) for p in CPU_PROCESSES)
            lines.append(f"| {phase.name} | {run.appendfsync} | {_num(phase.rate)} | {cells} |")
    return lines


def measured_with(command: str) -> list[str]:
    """The lines that open a report: when, and the command that produced it."""
    return [f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with:", "", "```", command, "```"]


def machine_facts() -> list[str]:
    def run(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"

    cpu = "?"
    try:
        with open("/proc/cpuinfo") as info:
            names = (ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name"))
            cpu = next(names, "?")
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    packages = ("grpcio", "redis", "protobuf", "uvloop", "hiredis")
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in packages)
    return [
        f"- CPU: `nproc` = {run('nproc')}, {cpu}; RAM {memory:.0f} GiB",
        f"- OS: {platform.system()} {platform.release()} ({platform.machine()})",
        f"- Python {platform.python_version()} ({platform.python_implementation()}); {versions}",
    ]


def render(runs: list[RunFigures], command: str, settings: list[str], server: str) -> str:
    """The whole Markdown document."""
    modes = [run.appendfsync for run in runs]
    header = "| Target | Limit | " + " | ".join(f"appendfsync={m}" for m in modes) + " |"
    sep = "|---" * (2 + len(runs)) + "|"
    lines = [
        "# Tarif engine benchmarks",
        "",
        *measured_with(command),
        "",
        "## Machine",
        "",
        *machine_facts(),
        f"- Redis: {server}",
        "- Everything (Redis, engine, load generators) shares this machine; loopback only.",
        "",
        "## Set-up",
        "",
        *settings,
        "",
        "## Targets",
        "",
        header,
        sep,
    ]
    for target in TARGETS:
        op = ">=" if target.higher_is_better else "<="
        cells = " | ".join(target_cell(target, run) for run in runs)
        limit = _num(target.limit) if float(target.limit).is_integer() else f"{target.limit:g}"
        lines.append(f"| {target.label} | {op} {limit} {target.unit} | {cells} |")
    lines += [
        "",
        "## All figures",
        "",
        "| Figure | " + " | ".join(f"appendfsync={m}" for m in modes) + " |",
        "|---" * (1 + len(runs)) + "|",
    ]
    for label, pick in _ROWS:
        lines.append(f"| {label} | {_phase_cells(runs, pick)} |")
    incidents = [
        f"- appendfsync={run.appendfsync}, {text}" for run in runs for text in run.incidents
    ]
    if incidents:
        lines += ["", "## Engine incidents", "", *incidents]
    lines += [
        "",
        "## CPU use per phase (cores busy on average; the machine has `nproc` of them)",
        "",
        *_cpu_rows(runs),
        "",
        "## CPU per event (microseconds of CPU per answered event, over the same windows)",
        "",
        *_cpu_per_event_rows(runs),
        "",
    ]
    return "\n".join(lines)


def with_analysis(generated: str, previous: str | None) -> str:
    """`generated` followed by the hand-written analysis section of `previous`, if it had one."""
    if previous is None or ANALYSIS_MARKER not in previous:
        return generated
    return generated.rstrip("\n") + "\n\n" + previous[previous.index(ANALYSIS_MARKER) :]
