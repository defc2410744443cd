"""The wheel the container image installs, installed in a fresh venv outside the repository, runs
`tarif up` against Redis and Postgres given by URL (as in deploy/compose.yaml) and serves a charge.

What the image does that this cannot (no container runtime here): the slim base, the user, the
HEALTHCHECK timing. What it shares: the build context (.dockerignore), the build script
(deploy/build-wheel.sh), a wheel with its generated gRPC code and package data, an install from
the index, and the `tarif health` commands the image's health checks run.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import grpc
import pytest
from redis.asyncio import Redis

from tarif.charging.v1 import charging_pb2_grpc as pb_grpc
from tarif_common.embedded import free_port
from tests.build_context import REPO, copy_context
from tests.e2e.test_tarif_up import _wait_for, charge_a_demo_call
from tests.scratch import ScratchPostgres

# Installing the wheel's dependencies takes ~40 s from a warm pip cache on a quiet 2-core machine,
# 100 s on a busy one, minutes from a cold cache; `tarif up` then starts in ~10 s. Outside the
# default run (`wheel`): .ci/run runs it apart.
pytestmark = [pytest.mark.wheel, pytest.mark.slow, pytest.mark.timeout(600)]
INSTALL_TIMEOUT = 480


def _run(
    command: list[str],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run `command`; on failure the assertion shows what it printed."""
    done = subprocess.run(
        command, cwd=cwd, env=env, timeout=timeout, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done


def build_and_install(workdir: Path) -> Path:
    """The wheel built from the build context as the image's build stage makes it, installed in
    a new venv under `workdir`; returns the venv's bin folder."""
    context, wheels, venv = workdir / "context", workdir / "wheels", workdir / "venv"
    copied = copy_context(context)
    assert "pyproject.toml" in copied
    assert not any(path.startswith(("tarif/", ".venv/")) for path in copied)  # made anew
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHON": sys.executable}
    _run([str(context / "deploy" / "build-wheel.sh"), str(wheels)], cwd=context, env=env)
    [wheel] = wheels.glob("tarif-*.whl")
    _run([sys.executable, "-m", "venv", str(venv)])
    _run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)],
        cwd=workdir,
        timeout=INSTALL_TIMEOUT,
    )
    return venv / "bin"


def _until_healthy(command: list[str], workdir: Path, env: dict[str, str]) -> None:
    """Run a health check until it passes (at most 60 s), then once more as the assertion."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, check=False)
        if done.returncode == 0:
            return
        time.sleep(0.5)
    _run(command, cwd=workdir, env=env)


def serve_a_charge_from_the_wheel(redis_url: str, database_url: str) -> None:
    with tempfile.TemporaryDirectory(prefix="tarif-wheel-") as scratch:
        workdir = Path(scratch)
        assert not workdir.resolve().is_relative_to(REPO)
        began = time.monotonic()
        bin_dir = build_and_install(workdir)
        print(f"wheel built and installed in {time.monotonic() - began:.0f} s")
        clean = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("TARIF_")
        }
        # The venv's code, not the repository's: the generated module and the demo come along.
        where = _run(
            [
                str(bin_dir / "python"),
                "-c",
                "import tarif_cli.serve as s, tarif.charging.v1.charging_pb2 as pb;"
                " print(s.__file__); print(pb.__file__); print(s.DEMO.is_file())",
            ],
            cwd=workdir,
            env=clean,
        ).stdout.split()
        assert all(Path(path).is_relative_to(workdir) for path in where[:2]), where
        assert where[2] == "True"

        grpc_port, metrics_port, batch_port, admin_port = (free_port() for _ in range(4))
        env = clean | {
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
            "TARIF_STATE_DIR": str(workdir / "state"),
            "TARIF_GRPC_ADDR": f"127.0.0.1:{grpc_port}",
            "TARIF_METRICS_ADDR": f"127.0.0.1:{metrics_port}",
            "TARIF_BATCH_METRICS_ADDR": f"127.0.0.1:{batch_port}",
            "TARIF_ADMIN_ADDR": f"127.0.0.1:{admin_port}",
            "TARIF_LOG_FORMAT": "text",
        }
        process = subprocess.Popen(
            [str(bin_dir / "tarif"), "up"],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            banner = "".join(_wait_for(process, "Ctrl-C stops everything", time.monotonic() + 120))
            assert f"Redis:    {redis_url}\n" in banner  # the given servers, none embedded
            assert "(embedded)" not in banner
            assert "4 customers" in banner

            with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                charge_a_demo_call(pb_grpc.ChargingServiceStub(channel), "wheel-1")

            # the image's health checks, run from the installed wheel with the process's settings
            healthy = _run([str(bin_dir / "tarif"), "health", "engine"], cwd=workdir, env=env)
            assert healthy.stdout.strip() == f"engine 127.0.0.1:{grpc_port}: SERVING"
            # the batch and the admin API are children that may still be starting (migrating,
            # connecting) when the engine prints the banner: as an orchestrator would, ask again
            for process_name in ("batch", "admin"):
                _until_healthy([str(bin_dir / "tarif"), "health", process_name], workdir, env)

            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
            unhealthy = subprocess.run(
                [str(bin_dir / "tarif"), "health", "engine", "--timeout", "2"],
                cwd=workdir, env=env, capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            assert unhealthy.returncode == 1, unhealthy.stdout + unhealthy.stderr
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            assert process.stdout is not None
            process.stdout.close()


async def test_the_installed_wheel_runs_tarif_up_and_serves_a_charge(
    redis: Redis, redis_url: str, scratch_postgres: ScratchPostgres, worker_number: int
) -> None:
    # `redis` empties this worker's Redis database; Postgres is a new, empty database that
    # `tarif up` migrates, as a first `docker compose up` does
    name = f"{scratch_postgres.database(worker_number)}_wheel"
    conn = await asyncpg.connect(scratch_postgres.url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
        try:
            database_url = scratch_postgres.url_of(name)
            await asyncio.to_thread(serve_a_charge_from_the_wheel, redis_url, database_url)
        finally:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
