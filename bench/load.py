"""Load generators: `wrk` when installed, else a small asyncio HTTP/1.1 client.

Both send one fixed request over keep-alive connections for a fixed time and answer the
same `LoadResult`: completed requests, requests per second, latency percentiles, and the
responses that were not 2xx or failed.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}
RESULT_MARK = "BENCH-RESULT "

# wrk's `done` hook prints the summary as one JSON line (latencies in microseconds).
WRK_SCRIPT = """
wrk.method = %(method)s
wrk.body = %(body)s
%(headers)s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests": %%d, "duration_us": %%d, "errors": %%d, "non_2xx": %%d,' ..
    ' "p50": %%d, "p90": %%d, "p99": %%d, "p999": %%d, "max": %%d, "mean": %%f}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
"""


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    method: str = "GET"
    body: bytes = b""
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class LoadResult:
    loader: str
    requests: int
    duration_s: float
    rps: float
    errors: int
    non_2xx: int
    latency_ms: dict[str, float]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_load(
    request: Request,
    *,
    duration: float,
    connections: int,
    loader: str = "auto",
    cpu: int | None = None,
) -> LoadResult:
    """`loader`: "wrk", "python", or "auto" (wrk when installed)."""
    if loader == "auto":
        loader = "wrk" if wrk_available() else "python"
    if loader == "wrk":
        return _wrk(request, duration=duration, connections=connections, cpu=cpu)
    if loader == "python":
        return asyncio.run(_python(request, duration=duration, connections=connections))
    raise ValueError(f"unknown loader {loader!r}: use wrk, python or auto")


def pinned(command: Sequence[str], cpu: int | None) -> list[str]:
    if cpu is None or shutil.which("taskset") is None:
        return list(command)
    return ["taskset", "-c", str(cpu), *command]


def _wrk(request: Request, *, duration: float, connections: int, cpu: int | None) -> LoadResult:
    headers = "\n".join(
        f"wrk.headers[{_lua(name)}] = {_lua(value)}"
        for name, value in (request.headers or {}).items()
    )
    script = WRK_SCRIPT % {
        "method": _lua(request.method),
        "body": _lua(request.body.decode()),
        "headers": headers,
        "mark": RESULT_MARK,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        command = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--timeout",
            "10s",
            "-s",
            handle.name,
            request.url,
        ]
        completed = subprocess.run(
            pinned(command, cpu), capture_output=True, text=True, check=False
        )
    finally:
        Path(handle.name).unlink()
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith(RESULT_MARK)), None)
    if completed.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
    raw = json.loads(line.removeprefix(RESULT_MARK))
    seconds = raw["duration_us"] / 1e6
    latency = {name: raw[name] / 1000 for name in (*PERCENTILES, "max", "mean")}
    return LoadResult(
        "wrk",
        raw["requests"],
        round(seconds, 3),
        round(raw["requests"] / seconds, 1),
        raw["errors"],
        raw["non_2xx"],
        {name: round(value, 3) for name, value in latency.items()},
    )


def _lua(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid Lua string literal


async def _python(request: Request, *, duration: float, connections: int) -> LoadResult:
    parts = urlsplit(request.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = [f"{request.method} {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}"]
    head += [f"{name}: {value}" for name, value in (request.headers or {}).items()]
    head.append(f"Content-Length: {len(request.body)}")
    raw = ("\r\n".join(head) + "\r\n\r\n").encode() + request.body
    latencies: list[float] = []
    failures = {"errors": 0, "non_2xx": 0}
    started = time.perf_counter()
    deadline = started + duration

    async def connection() -> None:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            failures["errors"] += 1
            return
        try:
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                writer.write(raw)
                status = await _read_response(reader)
                latencies.append(time.perf_counter() - sent)
                if not 200 <= status < 300:
                    failures["non_2xx"] += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            failures["errors"] += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    latency = {name: _percentile(ordered, q) * 1000 for name, q in PERCENTILES.items()}
    latency["max"] = (ordered[-1] if ordered else 0.0) * 1000
    latency["mean"] = (sum(ordered) / len(ordered) if ordered else 0.0) * 1000
    return LoadResult(
        "python",
        len(ordered),
        round(elapsed, 3),
        round(len(ordered) / elapsed, 1),
        failures["errors"],
        failures["non_2xx"],
        {name: round(value, 3) for name, value in latency.items()},
    )


async def _read_response(reader: asyncio.StreamReader) -> int:
    """One response; its status. The body is read (by length or chunks) and dropped."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    fields = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in head[1:] if line)
    }
    if "content-length" in fields:
        await reader.readexactly(int(fields["content-length"]))
    elif fields.get("transfer-encoding", "").lower() == "chunked":
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    return status


def _percentile(ordered: Sequence[float], q: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]
