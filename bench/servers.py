"""One uvicorn worker per target, pinned to one core, started and stopped by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from bench.load import pinned

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0


def cores() -> tuple[int | None, int | None]:
    """The server's core and the load generator's, when there are two to pin to."""
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(available) < 2:
        return None, None
    return available[0], available[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class Served:
    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time the server and its worker processes have used so far (user and
        system), from /proc."""
        return sum(_cpu_seconds(pid) for pid in _family(self.pid))


def _family(pid: int) -> list[int]:
    """The process and its descendants."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    found = children.read_text().split() if children.exists() else []
    return [pid, *(member for child in found for member in _family(int(child)))]


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:  # it ended meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def serving(
    app: str,
    *,
    factory: bool = False,
    env: Mapping[str, str] | None = None,
    cpu: int | None = None,
    ready_path: str = "/",
) -> Iterator[Served]:
    """`app` served on a free port until the block ends."""
    port = free_port()
    command: Sequence[str] = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        *(["--factory"] if factory else []),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            pinned(command, cpu),
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(process, url + ready_path, stderr)
            yield Served(url, process.pid)
        finally:
            _stop(process)


@contextlib.contextmanager
def serving_workers(env: Mapping[str, str], workers: int, *, cpu: int | None) -> Iterator[Served]:
    """`billing serve --workers N` on a free port, until every worker has started."""
    port = free_port()
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    command += ["--workers", str(workers)]
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            pinned(command, cpu),
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while _text(stderr).count("Application startup complete") < workers:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the workers did not start: {_text(stderr)}")
                time.sleep(0.1)
            yield Served(f"http://127.0.0.1:{port}", process.pid)
        finally:
            _stop(process)


def _wait_ready(process: subprocess.Popen[bytes], url: str, stderr: IO[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {_text(stderr)}")
        with contextlib.suppress(httpx.TransportError):
            httpx.get(url, timeout=1.0)
            return
        time.sleep(0.1)
    raise RuntimeError(f"server not ready in time: {_text(stderr)}")


def _text(stderr: IO[bytes]) -> str:
    stderr.seek(0)
    return stderr.read().decode(errors="replace")[-4000:]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait()


class Unavailable(RuntimeError):
    """What a target needs is missing from the machine."""


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server (the tests' own: loopback, no persistence, stopped by PID)."""
    from tests.support.redis import RedisServer

    try:
        server = RedisServer()
        server.start()
    except RuntimeError as exc:
        raise Unavailable(str(exc)) from exc
    try:
        yield server.url()
    finally:
        server.stop()
