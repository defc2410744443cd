"""`make run`'s path as root in a private (0700) folder, e.g. a clone in /root/tarif or mktemp -d.

Postgres refuses root, so as root it runs as `tarif-postgres`, which cannot traverse the 0700
folder holding the project's `.venv` (Postgres' binaries) and `.state`. Tarif must still come up,
changing no permission of any folder outside its state folder.

The project is cloned into the private folder and its `.venv` gets a copy of the pgserver wheel
(the binaries really live in the 0700 folder); the rest of the venv is the one running these tests
(building a venv there is too slow). `tarif up` runs from the clone as `make run` does.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import grpc
import psutil
import pytest

from tarif.charging.v1 import charging_pb2 as pb
from tarif.charging.v1 import charging_pb2_grpc as pb_grpc
from tarif_common.embedded import (
    PG_HOME_ROOT,
    PG_LOCATION_FILE,
    PG_SYSTEM_USER,
    free_port,
    pg_home,
)
from tests.e2e.test_tarif_up import _wait_for, charge_a_demo_call

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.skipif(os.geteuid() != 0, reason="the private-folder problem is root's"),
]

REPO = Path(__file__).resolve().parents[2]
TARIF = Path(sys.executable).parent / "tarif"  # the venv's entry point, as `make run` calls it


def _owner_and_mode(paths: list[Path]) -> dict[Path, tuple[int, int, int]]:
    found = {}
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            info = path.stat()
            found[path] = (info.st_mode, info.st_uid, info.st_gid)
    return found


def _folders_outside_state(parent: Path, pgserver: Path) -> list[Path]:
    """Every folder in the private parent (clone, venv), above it, and on Postgres' paths."""
    folders = [parent, *parent.parents, pgserver, *pgserver.parents]
    folders += [PG_HOME_ROOT, *PG_HOME_ROOT.parents]
    for top, dirs, _ in os.walk(parent):
        folders += [Path(top) / d for d in dirs]
    return folders


def _postgres_under(folder: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "exe"]):
        exe = proc.info["exe"] or ""
        if proc.info["name"] == "postgres" and exe.startswith(f"{folder}/"):
            found.append(proc)
    return found


def _batch_ingested_unrated(port: int) -> bool:
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    except OSError:
        return False
    return b'tarif_batch_ingested_total{ingestor="unrated"} 1.0' in body


def test_make_run_as_root_in_a_private_folder() -> None:
    assert TARIF.is_file(), f"no {TARIF}: install the project (make proto)"
    spec = importlib.util.find_spec("pgserver")
    assert spec is not None
    assert spec.origin is not None
    pgserver = Path(spec.origin).resolve().parent
    home_root_existed = PG_HOME_ROOT.exists()
    parent = Path(tempfile.mkdtemp(prefix="tarif-root-e2e-"))
    assert stat.S_IMODE(parent.stat().st_mode) == 0o700
    project = parent / "tarif"
    homes = {pg_home(project / ".state" / "postgres")}  # removed at the end, with what is in it
    process: subprocess.Popen[str] | None = None
    try:
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(project)], check=True, timeout=60)
        site = project / ".venv" / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
        site = site / "site-packages"
        for name in ("pgserver", "pgserver.libs"):
            if (pgserver.parent / name).is_dir():
                shutil.copytree(pgserver.parent / name, site / name, symlinks=True)
        before = _owner_and_mode(_folders_outside_state(parent, pgserver))

        grpc_port, metrics_port, batch_port = free_port(), free_port(), free_port()
        unset = ("REDIS_URL", "DATABASE_URL", "TARIF_REDIS_URL", "TARIF_DATABASE_URL")
        env = {k: v for k, v in os.environ.items() if k not in (*unset, "TARIF_STATE_DIR")}
        env |= {
            "PYTHONPATH": str(site),  # pgserver from the copy inside the private folder
            "TARIF_GRPC_ADDR": f"127.0.0.1:{grpc_port}",
            "TARIF_METRICS_ADDR": f"127.0.0.1:{metrics_port}",
            "TARIF_BATCH_METRICS_ADDR": f"127.0.0.1:{batch_port}",
            "TARIF_ADMIN_ADDR": f"127.0.0.1:{free_port()}",
            "TARIF_LOG_FORMAT": "text",
        }
        process = subprocess.Popen(
            [str(TARIF), "up"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        banner = "".join(_wait_for(process, "Ctrl-C stops everything", time.monotonic() + 150))
        assert "Tarif is up." in banner
        assert "(embedded)" in banner

        # The cluster and a copy of the binaries live where tarif-postgres can reach them; the
        # state folder records where.
        location = project / ".state" / "postgres" / PG_LOCATION_FILE
        pgdata = Path(location.read_text().strip())
        homes.add(pgdata.parents[1])
        assert PG_HOME_ROOT in pgdata.parents
        assert (pgdata / "PG_VERSION").is_file()
        assert not (project / ".state" / "postgres" / "pgdata").exists()
        children = psutil.Process(process.pid).children(recursive=True)
        postgres = [c for c in children if c.name() == "postgres"]
        assert postgres, [c.name() for c in children]
        for server in postgres:
            assert server.username() == PG_SYSTEM_USER
            assert PG_HOME_ROOT in Path(server.exe()).parents
            assert parent not in Path(server.exe()).parents

        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = pb_grpc.ChargingServiceStub(channel)
            charge_a_demo_call(stub, "root-e2e-1")
            # unratable usage goes through the batch process into the relocated Postgres
            stray = pb.EventRequest(
                subscriber="38699999999", service="sms", event_id="root-e2e-stray", units=1
            )
            assert stub.ChargeEvent(stray, timeout=10).result == pb.USER_UNKNOWN
        deadline = time.monotonic() + 30
        while not _batch_ingested_unrated(batch_port):
            assert time.monotonic() < deadline, "the batch process did not store the stray event"
            time.sleep(0.2)

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        for child in children:
            assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE

        # The next start from the same folder finds the same cluster.
        listing = subprocess.run(
            [str(TARIF), "unrated", "list"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        assert "root-e2e-stray" in listing
        assert Path(location.read_text().strip()) == pgdata
        assert not _postgres_under(pgdata.parents[1])

        after = _owner_and_mode(list(before))
        changed = {p: (before[p], after.get(p)) for p in before if before[p] != after.get(p)}
        assert not changed, f"permissions changed outside the state folder: {changed}"
    finally:
        if process is not None:
            if process.poll() is None:
                process.kill()
                process.wait()
            assert process.stdout is not None
            process.stdout.close()
        for home in homes:
            for server in _postgres_under(home):
                with contextlib.suppress(psutil.NoSuchProcess):
                    server.kill()
            shutil.rmtree(home, ignore_errors=True)
        if not home_root_existed:
            with contextlib.suppress(OSError):
                PG_HOME_ROOT.rmdir()
        shutil.rmtree(parent, ignore_errors=True)
