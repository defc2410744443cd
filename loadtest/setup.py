"""Set-up of one benchmark run: embedded Redis, demo catalog + N subscribers, engine subprocess.

The engine runs as a separate process (`tarif engine`, configured only through the environment,
exactly as in production) so that what we measure includes the real process boundary, and so
that its RSS can be read with psutil without the load generator polluting it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tarif_balances.provisioning import Provisioner, load_document
from tarif_common import keys
from tarif_common.embedded import free_port
from tarif_common.redis_client import connect

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo.yaml"
PARTITIONS = 16  # the engine's default; recorded in Redis by the provisioner
PLAN = "basic"
# Generous balances: every benchmark event must succeed, so a result other than SUCCESS is a bug.
MONEY = "1000000.00"
VOICE_SECONDS = 1_000_000
SMS_COUNT = 1_000  # free SMS first, then money: both Lua code paths get exercised
PROVISION_CHUNK = 500  # accounts per Provisioner.apply (validation is all-or-nothing per chunk)
PROVISION_PARALLEL = 8  # concurrent chunks: lets Redis group fsyncs under appendfsync=always
ENGINE_START_TIMEOUT = 30.0
ENGINE_STOP_TIMEOUT = 15.0


def msisdn(index: int) -> str:
    """Service identifier of subscriber `index` (deterministic: workers derive it, no IPC)."""
    return f"3866{index:07d}"


def account_id(index: int) -> str:
    return f"lt{index:07d}"


def route_of(index: int) -> tuple[int, str]:
    """(partition, account) of subscriber `index`, as `Provisioner.put_account` places it."""
    account = account_id(index)
    return keys.partition_of(account, PARTITIONS), account


def demo_catalog() -> dict[str, Any]:
    catalog: dict[str, Any] = load_document(DEMO)["catalog"]
    return catalog


def _account_doc(index: int) -> dict[str, Any]:
    return {
        "id": account_id(index),
        "plan": PLAN,
        "services": [msisdn(index)],
        "balances": [
            {"id": "main", "resource": "EUR", "amount": MONEY},
            {"id": "voice", "resource": "voice_seconds", "amount": VOICE_SECONDS},
            {"id": "sms", "resource": "sms_count", "amount": SMS_COUNT},
        ],
    }


async def provision(redis_url: str, subscribers: int) -> float:
    """Publish the demo catalog and create `subscribers` accounts; returns the seconds it took.

    Chunks are applied a few at a time: each account is its own MULTI/EXEC, so with
    appendfsync=always a strictly sequential load would pay one fsync per account.
    """
    started = time.perf_counter()
    redis = connect(redis_url)
    try:
        provisioner = Provisioner(redis, PARTITIONS)
        await provisioner.apply({"catalog": demo_catalog(), "accounts": []})
        chunks = [
            [_account_doc(i) for i in range(start, min(start + PROVISION_CHUNK, subscribers))]
            for start in range(0, subscribers, PROVISION_CHUNK)
        ]
        for first in range(0, len(chunks), PROVISION_PARALLEL):
            group = chunks[first : first + PROVISION_PARALLEL]
            await asyncio.gather(*(provisioner.apply({"accounts": chunk}) for chunk in group))
    finally:
        await redis.aclose()
    return time.perf_counter() - started


def free_ports_in_a_row(count: int) -> int:
    """The first of `count` consecutive ports free right now on 127.0.0.1 (the metrics ports of
    `tarif engine --workers count`)."""
    for _ in range(100):
        first = free_port()
        try:
            with contextlib.ExitStack() as held:
                for port in range(first + 1, first + count):
                    sock = held.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError(f"no {count} consecutive free ports found")


def _die_with_parent() -> Callable[[], None] | None:
    """The kernel SIGTERMs the engine if the benchmark dies, even by SIGKILL (Linux only)."""
    if sys.platform != "linux":
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def hook() -> None:
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG

    return hook


def _engine_command() -> list[str]:
    script = Path(sys.executable).parent / "tarif"
    if script.is_file():
        return [str(script), "engine"]
    return [sys.executable, "-m", "tarif_cli.main", "engine"]


@dataclass
class EngineProcess:
    """`tarif engine` as a subprocess on free loopback ports; stop() is idempotent.

    With `workers` > 1 it is `tarif engine --workers N`: N processes on the one gRPC port (the
    kernel spreads connections over them), the extra ones serving metrics on the ports after
    `metrics_port`; `pid` is the first, the others are its children.
    """

    name: ClassVar[str] = "engine"  # names its log and its errors
    redis_url: str
    workdir: Path
    workers: int = 1
    grpc_port: int = 0
    metrics_port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def command(self) -> list[str]:
        return [*_engine_command(), *(["--workers", str(self.workers)] if self.workers > 1 else [])]

    def start(self) -> None:
        self.grpc_port, self.metrics_port = free_port(), free_ports_in_a_row(self.workers)
        env = {
            **os.environ,
            "REDIS_URL": self.redis_url,
            "TARIF_GRPC_ADDR": self.target,
            "TARIF_METRICS_ADDR": f"127.0.0.1:{self.metrics_port}",
            "TARIF_LOG_LEVEL": "WARNING",
            "TARIF_PARTITIONS": str(PARTITIONS),
            "TARIF_SHUTDOWN_GRACE": "2",
            "TARIF_STATE_DIR": str(self.workdir / "state"),
        }
        env.pop("DATABASE_URL", None)
        with self.log_path.open("ab") as log:
            # Own process group: a Ctrl-C reaches the benchmark only, which then stops the
            # engine with SIGTERM (its graceful path) instead of racing it.
            self.proc = subprocess.Popen(
                self.command(),
                env=env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,
                preexec_fn=_die_with_parent(),
            )
        self._wait_serving()

    def _wait_serving(self) -> None:
        deadline = time.monotonic() + ENGINE_START_TIMEOUT
        with grpc.insecure_channel(self.target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    break
                with contextlib.suppress(grpc.RpcError):
                    answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                    serving = answer.status == health_pb2.HealthCheckResponse.SERVING
                    if serving and self._all_workers_listening():
                        return
                time.sleep(0.1)
        tail = self.log_path.read_text(errors="replace")[-3000:]
        self.stop()
        raise RuntimeError(f"{self.name} did not become SERVING on {self.target}:\n{tail}")

    def _all_workers_listening(self) -> bool:
        """Each worker serves metrics once its gRPC server listens: until all do, connections
        would land on the first ones only."""
        for port in range(self.metrics_port + 1, self.metrics_port + self.workers):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            except OSError:
                return False
        return True

    def exited(self) -> int | None:
        """The exit code if the engine stopped on its own, else None (running or never started)."""
        return None if self.proc is None else self.proc.poll()

    def log_tail(self, lines: int = 5) -> list[str]:
        try:
            return self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return []

    def restart(self) -> None:
        """Start again (new ports) after the engine stopped on its own; keeps its log."""
        self.stop()
        self.start()

    def stop(self) -> int | None:
        """SIGTERM (graceful drain), SIGKILL after ENGINE_STOP_TIMEOUT; returns the exit code."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(ENGINE_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5.0)
        return proc.returncode
