"""A reverse proxy on loopback in front of several server processes, as nginx would be.

    async with running_proxy([url_a, url_b]) as proxy:
        httpx.get(proxy.url + "/healthz").headers["x-upstream"]  # url_a, then url_b, ...

It runs in the test's event loop and speaks just enough HTTP/1.1 for the service:
keep-alive connections from clients, bodies framed by Content-Length. Each request goes
to the next upstream in turn, on a connection of its own (nginx's default: no keep-alive
to upstreams), from 127.0.0.1, with the address of the client appended to
`X-Forwarded-For`. An upstream that refuses the connection is skipped for the next
(nginx's `proxy_next_upstream error`); once a request is sent it is never sent again, so
an upstream that fails it makes it a 502. The body is passed on as it arrives
(`proxy_request_buffering off`), so a client that sends it slowly keeps its request under
way at the upstream. Answers carry `X-Upstream`, the upstream that gave them, and
`in_flight` counts, per upstream, the requests sent there and not yet answered.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

HOST = "127.0.0.1"
# Headers of one connection, not of the request or answer (RFC 9110 §7.6.1).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"})
FORWARDED_FOR = "x-forwarded-for"
CHUNK = 65536
Headers = list[tuple[str, str]]


class BadGateway(Exception):
    pass


class ReverseProxy:
    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = upstreams
        self.in_flight: Counter[str] = Counter()
        self._turns = itertools.count()
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self.url = ""

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, HOST, 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://{HOST}:{port}"

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._clients):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        client = writer.get_extra_info("peername")[0]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, headers = _parse_head(head)
                keep = _value(headers, "connection").lower() != "close"
                answer = await self._answer(request_line, headers, reader, client)
                writer.write(answer)
                await writer.drain()
                if not keep:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return  # the client went away
        finally:
            self._clients.discard(writer)
            writer.close()

    async def _answer(
        self, request_line: str, headers: Headers, body: asyncio.StreamReader, client: str
    ) -> bytes:
        if _value(headers, "transfer-encoding"):
            return _error(501, "chunked request bodies are not supported")
        try:
            upstream, (reader, writer) = await self._connect()
        except BadGateway as refused:
            return _error(502, str(refused))
        self.in_flight[upstream] += 1
        try:
            writer.write(_head(request_line, _forwarded(headers, client)))
            await _relay(body, writer, int(_value(headers, "content-length") or 0))
            answer = await reader.read()  # `Connection: close`: the answer ends with it
        except (OSError, asyncio.IncompleteReadError) as exc:
            return _error(502, f"{upstream} failed: {exc!r}")
        finally:
            self.in_flight[upstream] -= 1
            writer.close()
        if b"\r\n\r\n" not in answer:
            return _error(502, f"{upstream} closed the connection without an answer")
        return _reframed(answer, upstream)

    async def _connect(self) -> tuple[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
        first = next(self._turns)
        for n in range(len(self.upstreams)):
            upstream = self.upstreams[(first + n) % len(self.upstreams)]
            address = urlsplit(upstream)
            try:
                connection = await asyncio.open_connection(
                    address.hostname, address.port, local_addr=(HOST, 0)
                )
            except OSError:
                continue  # refused: the next upstream
            return upstream, connection
        raise BadGateway("every upstream refused the connection")


@asynccontextmanager
async def running_proxy(upstreams: list[str]) -> AsyncIterator[ReverseProxy]:
    proxy = ReverseProxy(upstreams)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


def _parse_head(head: bytes) -> tuple[str, Headers]:
    request_line, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    headers = []
    for line in lines:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    return request_line, headers


def _value(headers: Headers, name: str) -> str:
    return next((value for key, value in headers if key == name), "")


def _forwarded(headers: Headers, client: str) -> Headers:
    """The request's headers for the upstream: the client's address appended to
    `X-Forwarded-For` (what nginx's `$proxy_add_x_forwarded_for` does), one request per
    connection."""
    chain = [value for name, value in headers if name == FORWARDED_FOR]
    kept = [(n, v) for n, v in headers if n not in HOP_BY_HOP and n != FORWARDED_FOR]
    return [*kept, (FORWARDED_FOR, ", ".join([*chain, client])), ("connection", "close")]


def _head(start_line: str, headers: Headers) -> bytes:
    lines = [start_line, *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, length: int) -> None:
    """`length` bytes of the client's body, passed on as they arrive."""
    while length > 0:
        data = await reader.read(min(length, CHUNK))
        if not data:
            raise asyncio.IncompleteReadError(b"", length)
        length -= len(data)
        writer.write(data)
        await writer.drain()


def _reframed(answer: bytes, upstream: str) -> bytes:
    """The upstream's whole answer for a keep-alive client: its own framing when it has
    one, else the length of what came before the upstream closed; and `X-Upstream`."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, headers = _parse_head(head + b"\r\n\r\n")
    headers = [(n, v) for n, v in headers if n not in HOP_BY_HOP]
    if not _value(headers, "transfer-encoding") and not _value(headers, "content-length"):
        headers.append(("content-length", str(len(body))))
    return _head(status_line, [*headers, ("x-upstream", upstream)]) + body


def _error(status: int, message: str) -> bytes:
    body = message.encode()
    reason = {501: "Not Implemented", 502: "Bad Gateway"}[status]
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain\r\n"
        f"content-length: {len(body)}\r\nx-upstream: none\r\n\r\n"
    ).encode() + body
