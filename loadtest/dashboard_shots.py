"""Pictures of the Grafana dashboard from a real run: `python -m loadtest.dashboard_shots`.

Starts `tarif up` (embedded Redis and Postgres, in a temporary folder, on free ports) with the
run's customers, Debian's Prometheus scraping the engine, the batch (and the admin API when it
serves /metrics) every second, and a local SMS gateway and webhook receiver; drives a short
mixed load (`loadtest.dashboard_traffic`); then asks Prometheus for each panel's PromQL, read
from deploy/grafana/dashboards/tarif.json, and draws the panels into docs/dashboard/.

Bounded in time (`--timeout`); everything started is stopped on any exit, Ctrl-C included.
Exit status 1 when a panel came out empty (the pictures are written all the same).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import httpx
import yaml

from loadtest import dashboard, dashboard_render
from loadtest.dashboard_operator import TAX, Operator
from loadtest.dashboard_render import Window
from loadtest.dashboard_traffic import Plan, Traffic, customers_document
from loadtest.notify_sink import NotifySink
from loadtest.setup import REPO
from tarif_common.embedded import PG_HOME_ROOT, free_port, pg_home

OUT = REPO / "docs" / "dashboard"
PROMETHEUS = "/usr/bin/prometheus"
UP_TIMEOUT = 240.0  # embedded Postgres, migrations and onboarding the customers
STOP_TIMEOUT = 30.0
SETTLE = 15.0  # seconds scraped after the load: retries, dead letters, gauges back to rest


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Stack(contextlib.ExitStack):
    """The processes of the run, stopped in reverse order: SIGTERM, then SIGKILL of the group."""

    def process(
        self,
        name: str,
        command: list[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        out = log_path.open("ab")
        self.callback(out.close)
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            process_group=0,  # a Ctrl-C reaches this script only, which stops it gracefully
        )
        self.callback(_stop, name, proc)
        return proc


def _stop(name: str, proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        log(f"stopping {name}")
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            log(f"{name} did not stop in {STOP_TIMEOUT:.0f} s: killing its process group")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log(f"{name} stopped (exit status {proc.returncode})")


def _wait_for(
    what: str,
    check: Callable[[], object],
    timeout: float,
    proc: subprocess.Popen[bytes],
    logs: Path,
) -> object:
    """Polls `check` until it answers something true; fails early if `proc` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = "\n".join(logs.read_text(errors="replace").splitlines()[-20:])
            raise RuntimeError(f"{what}: the process exited ({proc.returncode}):\n{tail}")
        with contextlib.suppress(httpx.HTTPError, OSError):
            if found := check():
                return found
        time.sleep(0.5)
    raise TimeoutError(f"{what}: not ready after {timeout:.0f} s")


def _tarif_env(workdir: Path, ports: dict[str, int], sink: NotifySink) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    return env | {
        "TARIF_STATE_DIR": str(workdir / "state"),
        "TARIF_GRPC_ADDR": f"127.0.0.1:{ports['grpc']}",
        "TARIF_METRICS_ADDR": f"127.0.0.1:{ports['engine']}",
        "TARIF_BATCH_METRICS_ADDR": f"127.0.0.1:{ports['batch']}",
        "TARIF_ADMIN_ADDR": f"127.0.0.1:{ports['admin']}",
        "TARIF_ENVIRONMENT": "staging",  # billing runs as of the next months
        "TARIF_REDIS_APPENDFSYNC": "everysec",
        "TARIF_LOG_LEVEL": "WARNING",
        # sessions a client abandons are released within the run
        "TARIF_VALIDITY_TIME": "15",
        "TARIF_RESERVATION_GRACE": "5",
        # notifications: SMS and webhook to the local receiver, no SMTP (e-mail skipped), a
        # delivery given up after three quick attempts
        "TARIF_SMS_GATEWAY_URL": f"{sink.url}/sms",
        "TARIF_WEBHOOK_URL": f"{sink.url}/webhook",
        "TARIF_WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"dashboard shots").decode(),
        "TARIF_NOTIFY_MAX_ATTEMPTS": "3",
        "TARIF_NOTIFY_BACKOFF": "1",
        "TARIF_NOTIFY_TIMEOUT": "5",
        "TARIF_NOTIFY_LEASE": "10",
        "TARIF_JOBS_POLL_INTERVAL": "1",
        "TARIF_SELLER_NAME": "Tarif Demo d.o.o.",
        "TARIF_SELLER_ADDRESS": "Slovenska cesta 1",
        "TARIF_SELLER_CITY": "Ljubljana",
        "TARIF_SELLER_POSTCODE": "1000",
        "TARIF_SELLER_COUNTRY": "SI",
        "TARIF_DEFAULT_TAX": TAX,
    }


def _prometheus_config(targets: dict[str, str], scrape: str) -> dict[str, object]:
    return {
        "global": {"scrape_interval": scrape, "evaluation_interval": scrape},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [address]}]}
            for job, address in targets.items()
        ],
    }


def _admin_key(log_path: Path) -> str | None:
    found = re.search(r"admin key: (\S+)", log_path.read_text(errors="replace"))
    return found.group(1) if found else None


def _serves_metrics(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        answer = httpx.get(url, timeout=2.0)
        return answer.status_code == 200 and "# TYPE" in answer.text
    return False


@contextlib.contextmanager
def _workdir(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tarif-dashboard-"))
    path.chmod(0o755)  # as root, the embedded Postgres' system user must reach its data
    try:
        yield path
    finally:
        if keep:
            log(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)
            # a cluster moved out of reach of a closed folder (tarif_common.embedded)
            shutil.rmtree(pg_home(path / "state" / "postgres", PG_HOME_ROOT), ignore_errors=True)


def _start_tarif(
    stack: Stack, workdir: Path, plan: Plan, ports: dict[str, int], sink: NotifySink
) -> str:
    """`tarif up` with the run's customers; its admin key once it is up."""
    customers = workdir / "customers.yaml"
    customers.write_text(yaml.safe_dump(customers_document(plan)))
    tarif_log = workdir / "tarif.log"
    log(f"starting tarif up ({plan.rich + plan.small} customers), log {tarif_log}")
    tarif = stack.process(
        "tarif up",
        [sys.executable, "-m", "tarif_cli.main", "up", "--demo", str(customers)],
        tarif_log,
        env=_tarif_env(workdir, ports, sink),
        cwd=workdir,
    )
    key = _wait_for("tarif up", lambda: _admin_key(tarif_log), UP_TIMEOUT, tarif, tarif_log)
    docs = f"http://127.0.0.1:{ports['admin']}/docs"
    _wait_for("admin API", lambda: httpx.get(docs).is_success, 30, tarif, tarif_log)
    return str(key)


def _start_prometheus(
    stack: Stack, workdir: Path, ports: dict[str, int], args: argparse.Namespace
) -> str:
    """Prometheus scraping the engine, the batch and (if it serves metrics) the admin API, all
    up; its URL."""
    targets = {
        "tarif-engine": f"127.0.0.1:{ports['engine']}",
        "tarif-batch": f"127.0.0.1:{ports['batch']}",
    }
    if _serves_metrics(f"http://127.0.0.1:{ports['admin']}/metrics"):
        targets["tarif-admin"] = f"127.0.0.1:{ports['admin']}"
    config = workdir / "prometheus.yml"
    config.write_text(yaml.safe_dump(_prometheus_config(targets, args.scrape)))
    url = f"http://127.0.0.1:{ports['prometheus']}"
    log(f"starting Prometheus on {url}, scraping {', '.join(targets)}")
    prometheus = stack.process(
        "prometheus",
        [
            args.prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
            "--storage.tsdb.retention.time=1d",
        ],
        workdir / "prometheus.log",
    )

    def all_up() -> bool:
        answer = httpx.get(f"{url}/api/v1/targets", timeout=2.0)
        if not answer.is_success:  # still starting
            return False
        health = [t["health"] for t in answer.json()["data"]["activeTargets"]]
        return len(health) == len(targets) and set(health) == {"up"}

    _wait_for("Prometheus targets up", all_up, 30, prometheus, workdir / "prometheus.log")
    return url


async def _load(traffic: Traffic, operator: Operator, plan: Plan) -> Counter[str]:
    """The gRPC traffic and the operator's steps side by side; what was answered."""
    calls, steps = await asyncio.gather(traffic.run(), operator.run(plan.duration))
    return calls + steps


def run(args: argparse.Namespace) -> int:
    panels = dashboard.load(args.dashboard)
    plan = Plan(duration=args.duration)
    started = time.monotonic()
    with _workdir(args.keep) as workdir, NotifySink() as sink, Stack() as stack:
        ports = {name: free_port() for name in ("grpc", "engine", "batch", "admin", "prometheus")}
        key = _start_tarif(stack, workdir, plan, ports, sink)
        prometheus = _start_prometheus(stack, workdir, ports, args)
        target, admin = f"127.0.0.1:{ports['grpc']}", f"http://127.0.0.1:{ports['admin']}"
        traffic, operator = Traffic(target, plan), Operator(admin, key)
        log("warm-up: a billing run that fails (no tax yet)")
        asyncio.run(asyncio.wait_for(operator.warm_up(traffic), timeout=150))
        time.sleep(3.0)  # a few samples before the load
        begin = time.time()
        log(f"load for {plan.duration:.0f} s against {target}")
        left = args.timeout - (time.monotonic() - started) - SETTLE - 60
        answers = asyncio.run(asyncio.wait_for(_load(traffic, operator, plan), max(10.0, left)))
        for name, count in sorted(answers.items()):
            log(f"  {count:7d}  {name}")
        log(f"notification sink answered: {dict(sorted(sink.counts.items()))}")
        time.sleep(SETTLE)
        window = Window(begin - 5, time.time(), step=args.step, rate_interval=args.rate_interval)
        empty = _render(prometheus, panels, window, args.out)
    if empty:
        log(f"EMPTY panels: {', '.join(empty)}")
        return 1
    log(f"{len(panels)} panels drawn into {args.out}")
    return 0


def _render(prometheus: str, panels: list[dashboard.Panel], window: Window, out: Path) -> list[str]:
    """Every panel's PNG and the whole dashboard's; the titles of the panels with no data."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    drawn, empty = [], []
    for panel in panels:
        series = dashboard_render.query(prometheus, panel, window)
        points = sum(s.points for s in series)
        peak = max((v for s in series for v in s.values if v == v), default=0.0)
        log(f"  panel {panel.id:2d} {panel.title!r}: {len(series)} series, {points} points")
        if not points or not peak:
            empty.append(panel.title)
        dashboard_render.panel_png(panel, series, out / f"{panel.slug}.png")
        drawn.append((panel, series))
    dashboard_render.dashboard_png(drawn, "Tarif", out / "dashboard.png")
    return empty


def _give_up(signum: int, frame: object) -> NoReturn:
    raise SystemExit(f"stopped by {signal.Signals(signum).name}: everything started was stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=90.0, help="seconds of load")
    parser.add_argument("--out", type=Path, default=OUT, help="folder of the PNGs")
    parser.add_argument("--dashboard", type=Path, default=dashboard.DASHBOARD)
    parser.add_argument("--prometheus", default=PROMETHEUS, help="the prometheus binary")
    parser.add_argument("--scrape", default="1s", help="Prometheus' scrape interval")
    parser.add_argument("--step", type=float, default=2.0, help="seconds between points")
    parser.add_argument(
        "--rate-interval", default="10s", help="what $__rate_interval becomes in the queries"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="bound of the whole run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = parser.parse_args(argv)
    if not Path(args.prometheus).is_file():
        parser.error(f"{args.prometheus} not found (Debian: apt-get install prometheus)")
    signal.signal(signal.SIGTERM, _give_up)
    signal.signal(signal.SIGALRM, _give_up)
    signal.alarm(int(args.timeout))  # past it, the run unwinds and stops what it started
    try:
        return run(args)
    except KeyboardInterrupt:
        log("interrupted: everything started was stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
