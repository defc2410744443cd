"""`tarif up` (what `make run` runs) as a real process on a fresh state folder, then SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
import psutil
import pytest

from tarif.charging.v1 import charging_pb2 as pb
from tarif.charging.v1 import charging_pb2_grpc as pb_grpc
from tarif_common.embedded import free_port
from tests import promtool

pytestmark = pytest.mark.slow


def _wait_for(process: subprocess.Popen[str], text: str, deadline: float) -> list[str]:
    lines: list[str] = []
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError("did not see " + repr(text) + " in:\n" + "".join(lines))


def charge_a_demo_call(stub: pb_grpc.ChargingServiceStub, event_id: str) -> None:
    """A minute to Italy from demo customer 38640111222: 0.12 EUR of its 10.00."""
    request = pb.EventRequest(
        subscriber="38640111222",
        service="voice",
        event_id=event_id,
        units=60,
        attributes={"destination": "393331234567"},
    )
    answer = stub.ChargeEvent(request, timeout=10)
    assert (answer.result, answer.cost.minor_units) == (pb.SUCCESS, 12)
    report = stub.GetBalances(pb.BalanceQuery(subscriber="38640111222"), timeout=10)
    assert report.balances[0].amount == 988


def test_tarif_up_serves_the_demo_and_stops_cleanly() -> None:
    state = Path(f"/tmp/tarif-e2e-{os.getpid()}")  # postgres' user must traverse its parents
    grpc_port, metrics_port, batch_port = free_port(), free_port(), free_port()
    admin_port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")} | {
        "TARIF_STATE_DIR": str(state),
        "TARIF_GRPC_ADDR": f"127.0.0.1:{grpc_port}",
        "TARIF_METRICS_ADDR": f"127.0.0.1:{metrics_port}",
        "TARIF_BATCH_METRICS_ADDR": f"127.0.0.1:{batch_port}",
        "TARIF_ADMIN_ADDR": f"127.0.0.1:{admin_port}",
        "TARIF_LOG_FORMAT": "text",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tarif_cli.main", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = "".join(_wait_for(process, "Ctrl-C stops everything", time.monotonic() + 60))
        assert f"127.0.0.1:{grpc_port}" in banner
        assert f"http://127.0.0.1:{metrics_port}/metrics" in banner
        assert "(embedded)" in banner
        children = psutil.Process(process.pid).children(recursive=True)
        assert {c.name() for c in children} >= {"valkey-server", "postgres"}

        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = pb_grpc.ChargingServiceStub(channel)
            charge_a_demo_call(stub, "e2e-1")
            # the demo customer on plan smart paid its bundle at onboarding (30.00 - 17.19)
            smart = stub.GetBalances(pb.BalanceQuery(subscriber="38640111555"), timeout=10)
            amounts = {b.resource: b.amount for b in smart.balances if b.id == "main"}
            assert amounts == {"EUR": 1281}
            assert sorted(b.resource for b in smart.balances) == ["EUR", "EUR", "voice_seconds"]
        # Other `tarif` commands find the running servers: money as money, or JSON for scripts.
        shown = subprocess.run(
            [sys.executable, "-m", "tarif_cli.main", "balances", "38640111222"],
            env=env, capture_output=True, text=True, timeout=30, check=True,
        ).stdout  # fmt: skip
        assert shown.splitlines()[0] == "subscriber 38640111222, account 1001"
        assert shown.splitlines()[2].split()[:4] == ["main", "EUR", "9.88", "EUR"]
        as_json = subprocess.run(
            [sys.executable, "-m", "tarif_cli.main", "balances", "38640111222", "--json"],
            env=env, capture_output=True, text=True, timeout=30, check=True,
        ).stdout  # fmt: skip
        assert json.loads(as_json)["balances"][0]["amount"] == "9.88"
        metrics = urllib.request.urlopen(
            f"http://127.0.0.1:{metrics_port}/metrics", timeout=5
        ).read()
        assert b'tarif_engine_requests_total{result="SUCCESS",rpc="ChargeEvent"} 1.0' in metrics
        assert not promtool.wanted() or promtool.lint_metrics(metrics) == ""

        # The batch child moves unratable usage into Postgres; other `tarif` commands on the
        # same state dir use the running embedded servers.
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stray = pb.EventRequest(
                subscriber="38699999999", service="sms", event_id="e2e-stray", units=1
            )
            stub = pb_grpc.ChargingServiceStub(channel)
            assert stub.ChargeEvent(stray, timeout=10).result == pb.USER_UNKNOWN
        listing = ""
        deadline = time.monotonic() + 30
        while "e2e-stray" not in listing and time.monotonic() < deadline:
            listing = subprocess.run(
                [sys.executable, "-m", "tarif_cli.main", "unrated", "list", "--json"],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            ).stdout
        assert '"reason": "unknown_subscriber"' in listing
        batch_metrics = urllib.request.urlopen(
            f"http://127.0.0.1:{batch_port}/metrics", timeout=5
        ).read()
        assert b'tarif_batch_ingested_total{ingestor="unrated"} 1.0' in batch_metrics
        assert b'tarif_batch_stream_lag_seconds{ingestor="unrated"}' in batch_metrics
        assert not promtool.wanted() or promtool.lint_metrics(batch_metrics) == ""

        # The admin API answers with the key the banner printed.
        key = banner.split("admin key: ")[1].split()[0]
        request = urllib.request.Request(
            f"http://127.0.0.1:{admin_port}/v1/customer-types", headers={"X-API-Key": key}
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                types = json.loads(urllib.request.urlopen(request, timeout=5).read())
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert {t["name"] for t in types["items"]} == {"residential", "business"}

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        for child in children:
            assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
        assert (state / "redis" / "appendonlydir").exists()  # AOF durability on by default
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()
        subprocess.run(["rm", "-rf", str(state)], check=False)
