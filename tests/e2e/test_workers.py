"""`tarif engine --workers 2`: two processes share the gRPC port; SIGTERM stops them all."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import grpc
import psutil
import pytest
from redis.asyncio import Redis

from tarif.charging.v1 import charging_pb2 as pb
from tarif.charging.v1 import charging_pb2_grpc as pb_grpc
from tarif_balances.provisioning import Provisioner
from tarif_common.embedded import free_port
from tests.integration.harness import catalog

pytestmark = pytest.mark.slow


def _metrics(port: int) -> bytes | None:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    except OSError:
        return None


async def _provision(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    account = {"id": "w", "plan": "basic", "services": ["3864"]}
    account["balances"] = [{"id": "main", "resource": "EUR", "amount": "100"}]
    await Provisioner(client, 16).apply({"catalog": catalog(), "accounts": [account]})
    await client.aclose()


def _free_pair() -> int:
    """A port p with p + 1 free too (worker i serves metrics on p + i)."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as first, socket.socket() as second:
            try:
                first.bind(("127.0.0.1", port))
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two consecutive free ports")


def test_two_workers_share_the_port(redis_url: str) -> None:
    asyncio.run(_provision(redis_url))
    grpc_port, metrics_port = free_port(), _free_pair()
    env = os.environ | {
        "REDIS_URL": redis_url,
        "TARIF_GRPC_ADDR": f"127.0.0.1:{grpc_port}",
        "TARIF_METRICS_ADDR": f"127.0.0.1:{metrics_port}",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tarif_cli.main", "engine", "--workers", "2"], env=env
    )
    try:
        deadline = time.monotonic() + 60  # a loaded CI machine starts processes slowly
        while time.monotonic() < deadline and not (
            _metrics(metrics_port) and _metrics(metrics_port + 1)
        ):
            time.sleep(0.2)
        assert _metrics(metrics_port)
        assert _metrics(metrics_port + 1)
        workers = psutil.Process(process.pid).children()
        assert len(workers) == 1
        for i in range(20):  # new connections each time: the kernel spreads them
            with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                answer = pb_grpc.ChargingServiceStub(channel).ChargeEvent(
                    pb.EventRequest(
                        subscriber="3864",
                        service="sms",
                        event_id=f"w-{i}",
                        units=1,
                        attributes={"destination": "39"},
                    ),
                    timeout=10,
                )
                assert answer.result == pb.SUCCESS
        served = [
            sum(
                float(line.rsplit(b" ", 1)[1])
                for line in (_metrics(p) or b"").splitlines()
                if line.startswith(b"tarif_engine_requests_total{")
            )
            for p in (metrics_port, metrics_port + 1)
        ]
        assert sum(served) == 20
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
