"""A throwaway Redis server for one test session.

`RedisServer.start()` runs `redis-server` in the foreground on 127.0.0.1 on a free port,
with no persistence (`--save ''`, `--appendonly no`) and its own temporary directory as
working directory, and waits until it answers PING. `stop()` ends it by PID and removes
the directory, so nothing is left behind. Should the test process itself be killed, the
server gets SIGTERM from the kernel (Linux). `make test` installs `redis-server` when the
machine lacks it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import redis

from tests.support.ports import free_port

SEARCH_PATH = ("/usr/bin", "/usr/sbin", "/usr/local/bin")
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """For `preexec_fn`: have the kernel send SIGTERM to the child when this process dies.
    libc is loaded here, before the fork, so the child only makes the system call."""
    name = ctypes.util.find_library("c")
    if not sys.platform.startswith("linux") or name is None:
        return None
    libc = ctypes.CDLL(name, use_errno=True)

    def arm() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return arm


def find_redis_server() -> str:
    found = shutil.which("redis-server") or shutil.which(
        "redis-server", path=os.pathsep.join(SEARCH_PATH)
    )
    if found is None:
        raise RuntimeError(
            "redis-server not found: install it (apt-get install redis-server) or run `make test`"
        )
    return found


class RedisServer:
    def __init__(self) -> None:
        self.binary = find_redis_server()
        self.port = 0
        self.root: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 15.0) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="billing-redis-"))
        self.port = free_port()
        self._launch(timeout)

    def restart(self, timeout: float = 15.0) -> None:
        """Stop the server by its PID and start it again on the same port and directory:
        it comes back with what its last `SAVE` wrote there, as a Redis restored from a
        snapshot does."""
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout)
        self._launch(timeout)

    def _launch(self, timeout: float) -> None:
        assert self.root is not None
        command = [
            self.binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.root),
            "--logfile",
            str(self.root / "server.log"),
            "--maxclients",
            "1000",
        ]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited:\n{self.server_log()}")
            with contextlib.suppress(redis.RedisError):
                if self.client().ping():
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server not ready after {timeout}s:\n{self.server_log()}")

    def client(self, database: int = 0) -> redis.Redis:
        """A synchronous client, for tests that look at or damage the server's data."""
        return redis.Redis.from_url(self.url(database), socket_timeout=5)

    def flush(self) -> None:
        """Forget every key of every database, as `FLUSHALL` does."""
        with self.client() as client:
            client.flushall()

    def server_log(self) -> str:
        assert self.root is not None
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server by its PID (SIGTERM, then SIGKILL), then remove every file."""
        try:
            if self.process is not None and self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.process.pid, signal.SIGKILL)
                    self.process.wait()
        finally:
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
            self.process = None


@contextlib.contextmanager
def own_redis() -> Iterator[RedisServer]:
    """A Redis server of the test's own, which it may stop or restart."""
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
