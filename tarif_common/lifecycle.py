"""What every long-running Tarif process shares: background tasks, metrics, orderly stop.

A process is `async with SomeProcess(...) as p: await p.serve_until_stopped()`. Start-up opens
everything through an AsyncExitStack and shutdown closes it in reverse. If a background task dies
the process stops loudly (`failed` set, non-zero exit) instead of limping on.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Self

from prometheus_client import CollectorRegistry, start_http_server
from redis.exceptions import RedisError

from tarif_common import metrics_http
from tarif_common.errors import TarifError
from tarif_common.readiness import Readiness

log = logging.getLogger(__name__)

TASK_STOP_TIMEOUT = 5.0  # seconds background tasks get to end on shutdown

# Errors a background loop outlives: a server briefly away or busy. Anything else is a bug and
# ends the task (the process then stops, non-zero).
TRANSIENT: tuple[type[BaseException], ...] = (TarifError, RedisError, OSError)


def split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


async def every(
    interval: float,
    work: Callable[[], Awaitable[object]],
    name: str,
    stop: asyncio.Event,
    transient: tuple[type[BaseException], ...] = TRANSIENT,
) -> None:
    """Run `work` every `interval` seconds until `stop` is set, surviving transient errors.

    Stopping does not rely on cancellation alone: a cancel that lands inside a Redis call can
    be swallowed by the client, and the loop must still end.
    """
    while not stop.is_set():
        try:
            await work()
        except transient as exc:
            log.warning("task.retry", extra={"task": name, "error": repr(exc)})
        await sleep_unless(stop, interval)


async def sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class Process(abc.ABC):
    name = "process"

    def __init__(self, *, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._stack = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()
        self._closed = False
        self.failed = False  # a background task died: the process must exit non-zero
        self.metrics_port = 0

    async def __aenter__(self) -> Self:
        try:
            await self._start()
        except BaseException:
            await self.shutdown()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    @abc.abstractmethod
    async def _start(self) -> None: ...

    async def _before_tasks_stop(self) -> None:  # noqa: B027 (optional hook)
        """Stop taking work (e.g. close a server) before the background tasks are ended."""

    def _serve_metrics(
        self, addr: str, readiness: Callable[[], Awaitable[Readiness]] | None = None
    ) -> None:
        """The metrics on `addr`; with `readiness`, `/healthz` and `/readyz` beside them."""
        host, port = split_addr(addr)
        if readiness is None:
            http_server, thread = start_http_server(port, host, registry=self.registry)
        else:
            ready = metrics_http.in_loop(readiness, asyncio.get_running_loop())
            app = metrics_http.probes_app(self.registry, ready)
            http_server, thread = metrics_http.serve(host, port, app)
        self.metrics_port = http_server.server_port
        self._stack.callback(http_server.server_close)
        self._stack.callback(thread.join, 5)
        self._stack.callback(http_server.shutdown)

    def _spawn(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name=name)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or (task.exception() is None and self._stopped.is_set()):
            return
        error = task.exception()
        log.critical(
            f"{self.name}.task_died", extra={"task": task.get_name(), "error": repr(error)}
        )
        self.failed = True
        self._stopped.set()

    def stop(self) -> None:
        """Ask the process to stop (signal handlers call this); returns at once."""
        self._stopped.set()

    async def serve_until_stopped(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        await self._stopped.wait()

    async def shutdown(self) -> None:
        """Graceful stop; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        log.info(f"{self.name}.stopping")
        await self._before_tasks_stop()
        self._stopped.set()  # the loops end at their next check...
        for task in self._tasks:
            task.cancel()  # ...or now, if cancelling reaches them
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=TASK_STOP_TIMEOUT)
            for task in stuck:
                log.error(f"{self.name}.task_stuck", extra={"task": task.get_name()})
        await self._stack.aclose()
        log.info(f"{self.name}.stopped")
