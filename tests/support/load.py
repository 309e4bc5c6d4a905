"""A minimal HTTP/1.1 client for load tests: many keep-alive connections, little CPU.

httpx spends more CPU per request than the server does once a hundred connections are
busy, so a burst of thousands of requests through it measures the client. This sends
prepared requests over `connections` keep-alive connections and reads each answer
(Content-Length bodies only, as uvicorn sends them):

    replies = await send_all(url, [post_json("/api/...", body, headers)] * 1000, connections=100)

`SlowRequest` sends one request's body in two parts, keeping the request under way at the
server in between.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Reply:
    status_code: int
    headers: dict[str, str]  # lower-case names
    content: bytes
    received_at: float  # time.time() once the whole answer was read

    def json(self) -> Any:
        return json.loads(self.content)


def post_json(path: str, body: object, headers: Mapping[str, str]) -> Request:
    return Request(
        "POST", path, {**headers, "content-type": "application/json"}, json.dumps(body).encode()
    )


async def send_all(url: str, requests: Sequence[Request], *, connections: int) -> list[Reply]:
    """Every request's reply, in order; `connections` requests are in flight at a time."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    replies: list[Reply | None] = [None] * len(requests)
    pending = iter(enumerate(requests))

    async def worker() -> None:
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            for index, request in pending:
                if connection is None:
                    connection = await asyncio.open_connection(host, port)
                reader, writer = connection
                writer.write(_encode(request, parts.netloc))
                replies[index], keep = await _read_reply(reader)
                if not keep:
                    writer.close()
                    connection = None
        finally:
            if connection is not None:
                connection[1].close()

    await asyncio.gather(*(worker() for _ in range(min(connections, len(requests)))))
    return [reply for reply in replies if reply is not None]


async def flood(
    url: str, request: Callable[[int], Request], *, connections: int, stop: asyncio.Event
) -> dict[int, Reply]:
    """As many requests as the server answers, over `connections` keep-alive connections,
    until `stop` is set or the server goes away: request number n is `request(n)`.
    Returns the reply to each request that got one, by number."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    numbers = itertools.count()
    replies: dict[int, Reply] = {}

    async def worker() -> None:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            return
        try:
            while not stop.is_set():
                n = next(numbers)
                writer.write(_encode(request(n), parts.netloc))
                replies[n], keep = await _read_reply(reader)
                if not keep:
                    return
        except (OSError, asyncio.IncompleteReadError):
            return  # the server went away
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return replies


def _encode(request: Request, netloc: str) -> bytes:
    lines = [f"{request.method} {request.path} HTTP/1.1", f"host: {netloc}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    lines.append(f"content-length: {len(request.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body


async def _read_reply(reader: asyncio.StreamReader) -> tuple[Reply, bool]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status_line, *header_lines = head.rstrip("\r\n").split("\r\n")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    content = await reader.readexactly(int(headers.get("content-length", "0")))
    keep = headers.get("connection", "").lower() != "close"
    return Reply(int(status_line.split(" ")[1]), headers, content, time.time()), keep


class SlowRequest:
    """A request whose body arrives in two parts, as from a slow client: from `begin()`
    until `finish()` the server has its head and part of its body, and the request is
    under way there (an ASGI app waits in `receive()`)."""

    def __init__(self, url: str, request: Request) -> None:
        parts = urlsplit(url)
        self._address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._netloc = parts.netloc
        self._request = request
        self._connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def begin(self) -> None:
        reader, writer = await asyncio.open_connection(*self._address)
        self._connection = reader, writer
        writer.write(self._encoded()[: -self._rest()])
        await writer.drain()

    async def finish(self) -> Reply:
        """Send the rest of the body and read the answer."""
        assert self._connection is not None
        self._connection[1].write(self._encoded()[-self._rest() :])
        return await self.reply()

    async def reply(self) -> Reply:
        """The answer: `IncompleteReadError` or `ConnectionError` if the server closes the
        connection without one."""
        assert self._connection is not None
        reader, writer = self._connection
        try:
            return (await _read_reply(reader))[0]
        finally:
            writer.close()

    def _rest(self) -> int:
        return max(1, len(self._request.body) // 2)

    def _encoded(self) -> bytes:
        return _encode(self._request, self._netloc)
