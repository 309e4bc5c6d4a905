"""A throwaway PostgreSQL cluster for one test session.

`PostgresCluster.start()` runs `initdb` and `postgres` in a temporary directory, listening
on 127.0.0.1 on a free port with trust authentication for the superuser `postgres`, and
tuned for speed rather than durability. PostgreSQL refuses to run as root, so under root
the server runs as the `postgres` system user when there is one, else as `nobody`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.ports import free_port

SUPERUSER = "postgres"
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "64MB",
}


def find_bindir() -> Path:
    """Where `initdb` and `postgres` live: pg_config, the Debian layout, or PATH."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if bindir:
            candidates.append(Path(bindir))
    candidates += sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "postgres").exists():
            return candidate
    raise RuntimeError("PostgreSQL server binaries (initdb, postgres) not found")


def _server_user() -> pwd.struct_passwd | None:
    """The unprivileged account to run as, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and no unprivileged user to run PostgreSQL as")


def _demote(user: pwd.struct_passwd | None) -> Callable[[], None] | None:
    if user is None:
        return None

    def switch() -> None:
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)

    return switch


class PostgresCluster:
    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.user = _server_user()
        self.port = 0
        self.root: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def datadir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    def url(self, database: str = "postgres", driver: str = "asyncpg") -> str:
        return f"postgresql+{driver}://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """A libpq-style DSN, as asyncpg.connect() takes it."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 30.0) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="billing-pg-"))
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        log = self.root / "initdb.log"
        self._run_as_server_user(
            [
                str(self.bindir / "initdb"),
                "--pgdata",
                str(self.datadir),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-sync",
            ],
            log,
        )
        self.port = free_port()
        options = {
            **SERVER_SETTINGS,
            "port": str(self.port),
            "unix_socket_directories": str(self.root),
        }
        command = [str(self.bindir / "postgres"), "-D", str(self.datadir)]
        for key, value in options.items():
            command += ["-c", f"{key}={value}"]
        with open(self.root / "server.log", "wb") as server_log:
            self.process = subprocess.Popen(
                command,
                stdout=server_log,
                stderr=subprocess.STDOUT,
                preexec_fn=_demote(self.user),
                start_new_session=True,
            )
        self._wait_ready(timeout)

    def _run_as_server_user(self, command: list[str], log: Path) -> None:
        with open(log, "wb") as output:
            result = subprocess.run(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                preexec_fn=_demote(self.user),
                check=False,
            )
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed:\n{log.read_text(errors='replace')}")

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited:\n{self.server_log()}")
            ready = subprocess.run(
                [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"postgres not ready after {timeout}s:\n{self.server_log()}")

    def server_log(self) -> str:
        assert self.root is not None
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown of the postmaster by its PID, then remove every file."""
        if self.root is None:
            return
        try:
            pid = self._postmaster_pid()
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGINT)
                self._wait_exit(pid, timeout)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def _postmaster_pid(self) -> int | None:
        pidfile = self.datadir / "postmaster.pid"
        if pidfile.exists():
            return int(pidfile.read_text().split()[0])
        return self.process.pid if self.process is not None else None

    def _wait_exit(self, pid: int, timeout: float) -> None:
        if self.process is not None and self.process.pid == pid:
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
