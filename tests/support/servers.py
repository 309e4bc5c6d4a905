"""Real server processes for black-box tests.

    with run_servers(2, {"BILLING_DATABASE_URL": url, "BILLING_JWT_SECRET": "s"}) as urls:
        httpx.get(urls[0] + "/healthz")

`run_servers` is a plain (synchronous) context manager, usable from sync and async tests
alike: it starts `count` uvicorn processes serving `app` (default `app.main:app`) from the
repository root, each on its own free port, with `env` layered over the current environment. It
yields their base URLs once every one answers `GET /healthz` with 200, and on exit stops
each by PID (SIGTERM, then SIGKILL if it does not stop in time). A server that exits or
is not ready in time fails the start with its stderr.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0


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


@contextlib.contextmanager
def run_servers(
    count: int,
    env: Mapping[str, str],
    *,
    app: str = "app.main:app",
    timeout: float = START_TIMEOUT_SECONDS,
) -> Iterator[list[str]]:
    servers: list[Server] = []
    try:
        for _ in range(count):
            servers.append(_start(app, env))
        deadline = time.monotonic() + timeout
        for server in servers:
            _wait_healthy(server, deadline)
        yield [server.url for server in servers]
    finally:
        for server in servers:
            _stop(server)


def _start(app: str, env: Mapping[str, str]) -> Server:
    port = free_port()
    # A file, not a pipe: a chatty server must never block on a full pipe. Closed by _stop.
    stderr = tempfile.TemporaryFile()  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    return Server(process, f"http://127.0.0.1:{port}", stderr)


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
