"""Load-generator processes started together, plus a sampler of the servers' RSS and CPU.

Why processes: a Python generator costs about as much CPU per request as the engine does, so it
must not share the engine's interpreter (or the benchmark's). Each worker is a `spawn`ed process
(gRPC does not survive fork) with its own uvloop and channel. Workers prepare (connect, warm up),
report ready, then all start at one shared `time.monotonic()` instant (system-wide on Linux) and
run for the same window, so their counts add up to one rate.

Workers ignore SIGINT (blocked from their start): on Ctrl-C the parent alone decides, and
terminates them in `finally`.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import queue
import signal
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, ClassVar

import psutil  # type: ignore[import-untyped]

Result = dict[str, Any]


def tally(results: Counter[int], errors: Counter[str], cpu: float, **extra: Any) -> Result:
    """What every job reports: answers by result code, errors by kind, CPU seconds, extras."""
    return {
        "events": sum(results.values()),
        "results": dict(results),
        "errors": dict(errors),
        "cpu": cpu,
        **extra,
    }


READY_TIMEOUT = 60.0  # spawn + imports + warm-up of one worker
START_DELAY = 0.3  # seconds between "go" and the common start instant
COLLECT_GRACE = 30.0  # after the window: in-flight answers, bounded by the jobs' own timeouts


class Gate:
    """What a job awaits between its preparation and its timed window."""

    def __init__(self, ready: Any, go: Any, start_at: Any) -> None:
        self._ready, self._go, self._start_at = ready, go, start_at

    async def wait(self) -> float:
        """Report ready, wait for the common start, return it (a `time.monotonic()` value)."""
        self._ready.put(None)
        started = await asyncio.to_thread(self._go.wait, READY_TIMEOUT + 10)
        if not started:
            raise TimeoutError("no start signal from the benchmark")
        start_at = float(self._start_at.value)
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        return start_at


Job = Callable[[dict[str, Any], Gate], Coroutine[Any, Any, Result]]


def _child(job: Job, spec: dict[str, Any], ready: Any, go: Any, start_at: Any, out: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    import uvloop

    try:
        result: Result = uvloop.run(job(spec, Gate(ready, go, start_at)))
        out.put(result)
    except BaseException:
        ready.put(None)  # never leave the parent waiting for a dead worker
        out.put({"error": traceback.format_exc()})


def _wait_ready(ready: Any, procs: list[Any]) -> None:
    """One "ready" per worker; fail fast if a worker dies before saying it (e.g. an import)."""
    deadline = time.monotonic() + READY_TIMEOUT
    count = 0
    while count < len(procs):
        if time.monotonic() > deadline:
            raise TimeoutError("load-generator workers were not ready in time")
        try:
            ready.get(timeout=0.2)
            count += 1
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode is not None]
            if dead:
                message = f"a load-generator worker died at start (exit {dead[0]})"
                raise RuntimeError(message) from None


@dataclass
class Window:
    start: float
    end: float
    cpu: dict[str, float]  # process name -> CPU seconds used inside the window


def run_workers(
    job: Job,
    specs: list[dict[str, Any]],
    duration: float,
    probe: Monitor | None = None,
    collect_timeout: float = COLLECT_GRACE,
) -> tuple[list[Result], Window]:
    """Run `job(spec)` in one process per spec over a common window of `duration` seconds.

    Results are awaited for `collect_timeout` seconds after the window.
    """
    ctx = mp.get_context("spawn")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    start_at = ctx.Value("d", 0.0)
    procs = [
        ctx.Process(target=_child, args=(job, spec, ready, go, start_at, out), daemon=True)
        for spec in specs
    ]
    started: list[Any] = []
    finished = False
    try:
        # Children inherit a blocked SIGINT through exec, so a Ctrl-C during their start-up
        # (imports) reaches only the parent; `_child` then ignores it for good.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            for proc in procs:
                proc.start()
                started.append(proc)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        _wait_ready(ready, started)
        start = time.monotonic() + START_DELAY
        start_at.value = start
        go.set()
        time.sleep(max(0.0, start - time.monotonic()))
        before = probe.cpu() if probe else {}
        time.sleep(max(0.0, start + duration - time.monotonic()))
        after = probe.cpu() if probe else {}
        results = []
        deadline = time.monotonic() + collect_timeout
        for _ in procs:
            results.append(out.get(timeout=max(0.1, deadline - time.monotonic())))
        finished = True
    except queue.Empty:
        raise TimeoutError("a load-generator worker did not answer in time") from None
    finally:
        for proc in started:
            if finished:  # results are in: give the worker a moment to exit by itself
                proc.join(timeout=5.0)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5.0)
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError("load-generator worker failed:\n" + errors[0])
    cpu = {name: after[name] - before[name] for name in after if name in before}
    return results, Window(start, start + duration, cpu)


@dataclass
class Monitor:
    """Samples RSS of watched processes every `interval` s in a thread; reads CPU on demand.

    A watched process counts with its descendants (the workers of `tarif engine --workers N`):
    its CPU and RSS are their sums, and each process also appears alone as `name/pid`, so
    the share of each worker can be read. Descendants are looked up again every
    `REFRESH_CHILDREN` seconds (walking /proc each sample would cost CPU of its own).
    """

    REFRESH_CHILDREN: ClassVar[float] = 1.0

    pids: dict[str, int]
    interval: float = 0.1
    max_rss: dict[str, int] = field(default_factory=dict)  # name -> largest sum over its tree
    max_rss_process: dict[str, int] = field(default_factory=dict)  # name -> largest one process
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _procs(self) -> list[tuple[str, psutil.Process]]:
        found = []
        for name, pid in self.pids.items():
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                found.append((name, proc))
                found += [(name, child) for child in proc.children(recursive=True)]
        return found

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far: user + system of each watched process (summed over its tree, and
        alone as `name/pid`), and machine-wide `busy` (all non-idle time of all CPUs) and
        `steal` (taken by the hypervisor)."""
        machine = psutil.cpu_times()
        idle = machine.idle + getattr(machine, "iowait", 0.0)
        steal = getattr(machine, "steal", 0.0)
        used = {"busy": sum(machine) - idle - steal, "steal": steal}
        for name, proc in self._procs():
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                used[f"{name}/{proc.pid}"] = times.user + times.system
                used[name] = used.get(name, 0.0) + times.user + times.system
        return used

    def rss(self) -> dict[str, int]:
        return self._sizes(self._procs())[0]

    @staticmethod
    def _sizes(procs: list[tuple[str, psutil.Process]]) -> tuple[dict[str, int], dict[str, int]]:
        """(RSS summed per name, largest single process per name)."""
        sums: dict[str, int] = {}
        largest: dict[str, int] = {}
        for name, proc in procs:
            with contextlib.suppress(psutil.Error):
                rss = proc.memory_info().rss
                sums[name] = sums.get(name, 0) + rss
                largest[name] = max(rss, largest.get(name, 0))
        return sums, largest

    def reset_peak(self) -> None:
        self.max_rss, self.max_rss_process = self._sizes(self._procs())

    def watch(self, name: str, pid: int) -> None:
        """Follow another process under `name` (an engine restarted after it stopped)."""
        self.pids = {**self.pids, name: pid}

    def _run(self) -> None:
        procs: list[tuple[str, psutil.Process]] = []
        watched: dict[str, int] = {}
        looked = 0.0
        while not self._stop.wait(self.interval):
            if watched != self.pids or time.monotonic() - looked > self.REFRESH_CHILDREN:
                watched, looked = self.pids, time.monotonic()
                procs = self._procs()
            sums, largest = self._sizes(procs)
            for name, rss in sums.items():
                self.max_rss[name] = max(rss, self.max_rss.get(name, 0))
            for name, rss in largest.items():
                self.max_rss_process[name] = max(rss, self.max_rss_process.get(name, 0))

    def __enter__(self) -> Monitor:
        self.reset_peak()
        self._thread = threading.Thread(target=self._run, name="rss-monitor", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
