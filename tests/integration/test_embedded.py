"""Embedded Redis/Postgres against the real pip-installed binaries (no machine servers used)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
import redis

from tarif_common.embedded import (
    PG_SYSTEM_USER,
    EmbeddedPostgres,
    EmbeddedRedis,
    EmbeddedServerError,
    embedded_services,
    free_port,
)
from tarif_common.settings import Settings

IS_ROOT = os.geteuid() == 0
REPO = Path(__file__).resolve().parents[2]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def process_alive(pid: int) -> bool:
    """True for a running process; a zombie (exited, not yet reaped) counts as gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def pg_root() -> Iterator[Path]:
    """A state dir Postgres' system user can reach when we are root.

    pytest's tmp_path sits under a 0700 folder (/tmp/pytest-of-root), which `tarif-postgres` cannot
    traverse; a fresh /tmp folder passed as `owned_root` is one the server may open up itself.
    """
    root = Path(tempfile.mkdtemp(prefix="tarif-test-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def no_service_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REDIS_URL", "TARIF_REDIS_URL", "DATABASE_URL", "TARIF_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_free_port_is_bindable_and_not_a_machine_port() -> None:
    port = free_port()
    assert port not in (6379, 5432)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


@pytest.mark.parametrize("policy", ["always", "everysec"])
def test_redis_starts_with_append_only_file(tmp_path: Path, policy: str) -> None:
    server = EmbeddedRedis(tmp_path / "redis", appendfsync=policy)
    url = server.start()
    assert url == server.url == f"redis://127.0.0.1:{server.port}/0"
    assert server.port not in (6379, 0)
    with redis.Redis.from_url(url, decode_responses=True) as client:
        assert client.ping()
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": policy}
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("bind")["bind"] == "127.0.0.1"
    assert (tmp_path / "redis" / "server.log").stat().st_size > 0

    server.stop()
    server.stop()
    assert not port_open(server.port)
    with pytest.raises(EmbeddedServerError):
        _ = server.url


def test_redis_start_failure_reports_log_tail(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        server = EmbeddedRedis(tmp_path / "redis", port=busy.getsockname()[1])
        with pytest.raises(EmbeddedServerError, match="in use"):
            server.start()
    server.stop()


def test_data_dir_used_by_a_live_owner_is_refused(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "redis") as first:
        with pytest.raises(EmbeddedServerError, match="REDIS_URL"):
            EmbeddedRedis(tmp_path / "redis").start()
        assert port_open(first.port)


@pytest.mark.fault
def test_redis_appendfsync_always_survives_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "redis"
    first = EmbeddedRedis(data, appendfsync="always")
    with redis.Redis.from_url(first.start()) as client:
        client.set("balance:42", "1000")
    assert first.pid is not None
    os.kill(first.pid, signal.SIGKILL)
    first.stop()  # reaps the dead process; must not raise

    with EmbeddedRedis(data) as second, redis.Redis.from_url(second.url) as client:
        assert client.get("balance:42") == b"1000"


CHILD = """
import sys, threading, time
from pathlib import Path
from tarif_common.embedded import EmbeddedPostgres, EmbeddedRedis

kind, data, in_thread = sys.argv[1], Path(sys.argv[2]), sys.argv[3] == "thread"
def run():
    if kind == "redis":
        server = EmbeddedRedis(data)
    else:
        server = EmbeddedPostgres(data, owned_root=data.parent)
    server.start()
    print(server.pid, server.port, flush=True)
if in_thread:
    t = threading.Thread(target=run)
    t.start()
    t.join()
else:
    run()
time.sleep(120)
"""


def start_in_child(kind: str, data: Path, mode: str) -> tuple[int, int]:
    """Start a server in a child interpreter, SIGKILL the child; return the server's pid, port."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, kind, str(data), mode],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    with child.stdout:
        line = child.stdout.readline()
        child.kill()
        child.wait()
    pid, port = map(int, line.split())
    return pid, port


@pytest.mark.fault
@pytest.mark.parametrize("kind", ["redis", "postgres"])
def test_server_dies_with_its_killed_parent(pg_root: Path, kind: str) -> None:
    pid, port = start_in_child(kind, pg_root / kind, "main")
    assert wait_until(lambda: not process_alive(pid)), "server outlived its SIGKILLed parent"
    assert not port_open(port)


@pytest.mark.fault
def test_orphan_recorded_in_pid_file_is_stopped_on_next_start(tmp_path: Path) -> None:
    # Started from a thread: no parent-death signal, so killing the parent leaves an orphan
    # (this also checks that the server outlives the thread that started it).
    pid, port = start_in_child("redis", tmp_path / "redis", "thread")
    assert process_alive(pid)
    assert port_open(port)

    with EmbeddedRedis(tmp_path / "redis") as server:
        assert not process_alive(pid)
        with redis.Redis.from_url(server.url) as client:
            assert client.ping()


async def test_postgres_starts_and_reuses_its_cluster(pg_root: Path) -> None:
    data = pg_root / "postgres"
    server = EmbeddedPostgres(data, owned_root=pg_root)
    began = time.monotonic()
    url = server.start()
    first_start = time.monotonic() - began
    assert url == server.url == f"postgresql://tarif@127.0.0.1:{server.port}/tarif"
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("select 1") == 1
        assert await conn.fetchval("select current_database()") == "tarif"
        assert await conn.fetchval("show fsync") == "on"
        assert await conn.fetchval("show listen_addresses") == "127.0.0.1"
        assert await conn.fetchval("show unix_socket_directories") == ""
        await conn.execute("create table kept (v int); insert into kept values (7)")
    finally:
        await conn.close()
    if IS_ROOT:
        postgres_user = pwd.getpwnam(PG_SYSTEM_USER)
        assert server.pid is not None
        assert os.stat(f"/proc/{server.pid}").st_uid == postgres_user.pw_uid
        assert os.stat(data / "pgdata").st_uid == postgres_user.pw_uid
        assert os.stat(pg_root).st_mode & stat.S_IXOTH  # opened up: inside owned_root
    server.stop()
    server.stop()
    assert not port_open(server.port)

    again = EmbeddedPostgres(data, owned_root=pg_root)
    began = time.monotonic()
    conn = await asyncpg.connect(again.start())
    second_start = time.monotonic() - began
    try:
        assert await conn.fetchval("select v from kept") == 7
    finally:
        await conn.close()
        again.stop()
    assert second_start < first_start  # no second initdb
    assert second_start < 3.0


@pytest.mark.skipif(not IS_ROOT, reason="the traversal check applies to the root case")
def test_postgres_refuses_to_loosen_folders_it_does_not_own(tmp_path: Path) -> None:
    closed = [p for p in tmp_path.parents if not p.stat().st_mode & stat.S_IXOTH]
    if not closed:
        pytest.skip("every parent of tmp_path is already traversable")
    modes = {p: p.stat().st_mode for p in tmp_path.parents}
    with pytest.raises(EmbeddedServerError) as raised:
        EmbeddedPostgres(tmp_path / "postgres").start()
    assert str(closed[-1]) in str(raised.value)
    assert "DATABASE_URL" in str(raised.value)
    assert modes == {p: p.stat().st_mode for p in tmp_path.parents}


def test_embedded_services_uses_configured_urls(tmp_path: Path) -> None:
    settings = Settings(
        REDIS_URL="redis://redis.invalid:6390/0",
        DATABASE_URL="postgresql://u@db.invalid/x",
        state_dir=tmp_path / "state",
    )
    with embedded_services(settings) as urls:
        assert urls.embedded == ()
        assert urls.redis_url == "redis://redis.invalid:6390/0"
        assert urls.database_url == "postgresql://u@db.invalid/x"
    assert not (tmp_path / "state").exists()


@pytest.mark.usefixtures("no_service_env")
async def test_embedded_services_starts_and_stops_both(pg_root: Path) -> None:
    settings = Settings(state_dir=pg_root, redis_appendfsync="everysec")
    with embedded_services(settings) as urls:
        assert urls.embedded == ("redis", "postgres")
        assert urls.database_url is not None
        with redis.Redis.from_url(urls.redis_url, decode_responses=True) as client:
            assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
        conn = await asyncpg.connect(urls.database_url)
        assert await conn.fetchval("select 1") == 1
        await conn.close()
        ports = [
            int(u.rsplit(":", 1)[1].split("/")[0]) for u in (urls.redis_url, urls.database_url)
        ]
        assert all(port_open(p) for p in ports)
    assert not any(port_open(p) for p in ports)
    assert sorted(os.listdir(pg_root)) == ["postgres", "redis"]


@pytest.mark.usefixtures("no_service_env")
def test_embedded_services_stops_on_error_and_can_skip_postgres(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state")
    ports: list[int] = []

    def fail_inside() -> None:
        with embedded_services(settings, postgres=False) as urls:
            assert urls.embedded == ("redis",)
            assert urls.database_url is None
            ports.append(int(urls.redis_url.rsplit(":", 1)[1].split("/")[0]))
            assert port_open(ports[0])
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_inside()
    assert len(ports) == 1
    assert not port_open(ports[0])
