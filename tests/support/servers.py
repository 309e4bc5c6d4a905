"""Real server processes for black-box tests.

    with run_servers(2, {"BILLING_DATABASE_URL": url, "BILLING_JWT_SECRET": "s"}) as urls:
        httpx.get(urls[0] + "/healthz")

`run_servers` is a plain (synchronous) context manager, usable from sync and async tests
alike: it starts `count` uvicorn processes serving `app` (default `app.main:app`) from the
repository root, each on its own free port, with `env` layered over the current environment
(and over a self rate limit high enough for any test, unless `env` sets one). It
yields their base URLs once every one answers `GET /healthz` with 200, and on exit stops
each by PID (SIGTERM, then SIGKILL if it does not stop in time). A server that exits or
is not ready in time fails the start with its stderr.

`run_server_processes` is the same but yields the `Server` handles, for tests that stop
or kill a server themselves (`server.pid`, `server.send_signal(...)`, `server.wait()`).
With `billing=[...]` both start `billing serve` with those options instead of uvicorn, as
an operator would (`billing=["--graceful-timeout", "5"]`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 30.0
UNTHROTTLED_ENV = {
    "BILLING_SELF_LIMIT_ANONYMOUS": "1000000/minute",
    "BILLING_SELF_LIMIT_USER": "1000000/minute",
}
STOP_TIMEOUT_SECONDS = 10.0
SERVER_HOST = "127.0.0.1"


class ServerFailed(RuntimeError):
    pass


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    stderr: IO[bytes]

    def error_output(self) -> str:
        self.stderr.flush()
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    @property
    def pid(self) -> int:
        return self.process.pid

    def send_signal(self, signum: signal.Signals) -> None:
        """Signal the server by its PID without waiting: SIGKILL ends it at once, SIGTERM
        starts its graceful shutdown. `wait()` then gives its exit code."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signum)

    def wait(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        return self.process.wait(timeout)


@contextlib.contextmanager
def run_servers(
    count: int,
    env: Mapping[str, str],
    *,
    app: str = "app.main:app",
    timeout: float = START_TIMEOUT_SECONDS,
    billing: Sequence[str] | None = None,
) -> Iterator[list[str]]:
    with run_server_processes(count, env, app=app, timeout=timeout, billing=billing) as servers:
        yield [server.url for server in servers]


@contextlib.contextmanager
def run_server_processes(
    count: int,
    env: Mapping[str, str],
    *,
    app: str = "app.main:app",
    timeout: float = START_TIMEOUT_SECONDS,
    billing: Sequence[str] | None = None,
) -> Iterator[list[Server]]:
    servers: list[Server] = []
    try:
        for _ in range(count):
            servers.append(_start(app, env, billing))
        deadline = time.monotonic() + timeout
        for server in servers:
            _wait_healthy(server, deadline)
        yield servers
    finally:
        for server in servers:
            _stop(server)


def _start(app: str, env: Mapping[str, str], billing: Sequence[str] | None) -> Server:
    port = free_port()
    # A file, not a pipe: a chatty server must never block on a full pipe. Closed by _stop.
    stderr = tempfile.TemporaryFile()  # noqa: SIM115
    address = ["--host", SERVER_HOST, "--port", str(port)]
    if billing is None:
        command = ["uvicorn", app, *address, "--no-access-log"]
    else:
        command = ["app.cli", "serve", *address, *billing]
    process = subprocess.Popen(
        [sys.executable, "-m", *command],
        cwd=ROOT,
        env={**os.environ, **UNTHROTTLED_ENV, **env},
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    return Server(process, f"http://{SERVER_HOST}:{port}", stderr)


def _wait_healthy(server: Server, deadline: float) -> None:
    with httpx.Client(base_url=server.url, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise ServerFailed(
                    f"server exited with {server.process.returncode}:\n{server.error_output()}"
                )
            with contextlib.suppress(httpx.TransportError):
                if client.get("/healthz").status_code == 200:
                    return
            time.sleep(0.1)
    raise ServerFailed(f"{server.url} not healthy in time:\n{server.error_output()}")


def _stop(server: Server) -> None:
    if server.process.poll() is not None:
        server.stderr.close()
        return
    os.kill(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
    server.stderr.close()
