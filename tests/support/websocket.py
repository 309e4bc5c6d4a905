"""A WebSocket client that speaks ASGI to an app running in this process and event loop
(httpx has no WebSocket), and a `graphql-transport-ws` session over it or over a real
socket.

    async with asgi_websocket(app, "/graphql") as socket:
        session = GraphQLWS(socket)
        await session.init({"Authorization": "Bearer ..."})
        await session.subscribe("1", "subscription { usageChanged { identifier } }")
        message = await session.receive()

The ASGI client refuses binary frames from the app: the protocol sends text only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

from starlette.types import ASGIApp, Message

PROTOCOL = "graphql-transport-ws"
TIMEOUT_SECONDS = 5.0


class Closed(Exception):
    """The server closed the connection (or refused the handshake: `accepted` False)."""

    def __init__(self, code: int, reason: str, *, accepted: bool = True) -> None:
        super().__init__(f"closed {code}: {reason}")
        self.code = code
        self.reason = reason
        self.accepted = accepted


class Socket(Protocol):
    async def send_text(self, text: str) -> None: ...
    async def receive_text(self, within: float) -> str: ...
    async def wait_closed(self, within: float) -> Closed: ...


class AsgiWebSocket:
    def __init__(self) -> None:
        self.to_app: asyncio.Queue[Message] = asyncio.Queue()
        self.from_app: asyncio.Queue[Message] = asyncio.Queue()
        self.subprotocol: str | None = None
        self.closed: Closed | None = None

    async def send_text(self, text: str) -> None:
        await self.to_app.put({"type": "websocket.receive", "text": text})

    async def receive_text(self, within: float = TIMEOUT_SECONDS) -> str:
        if self.closed is not None:
            raise self.closed
        message = await asyncio.wait_for(self.from_app.get(), within)
        if message["type"] == "websocket.close":
            self.closed = Closed(message.get("code", 1000), message.get("reason") or "")
            raise self.closed
        assert message["type"] == "websocket.send", message
        assert message.get("text") is not None, f"a binary frame: {message}"
        text: str = message["text"]
        return text

    async def wait_closed(self, within: float = TIMEOUT_SECONDS) -> Closed:
        """The close the server sends, skipping what comes before it."""
        while True:
            try:
                await self.receive_text(within)
            except Closed as closed:
                return closed


@contextlib.asynccontextmanager
async def asgi_websocket(
    app: ASGIApp,
    path: str,
    *,
    subprotocols: Sequence[str] = (PROTOCOL,),
    headers: Mapping[str, str] | None = None,
    client: tuple[str, int] = ("203.0.113.7", 40000),
) -> AsyncIterator[AsgiWebSocket]:
    """Connected once the app accepted the handshake; `Closed(accepted=False)` when it
    refused it (a server answers that with HTTP 403)."""
    socket = AsgiWebSocket()
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "http_version": "1.1",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
        ],
        "client": client,
        "server": ("testserver", 80),
        "subprotocols": list(subprotocols),
        "state": {},
        "extensions": {},
    }

    async def receive() -> Message:
        return await socket.to_app.get()

    async def send(message: Message) -> None:
        if message["type"] == "websocket.close":
            await socket.to_app.put({"type": "websocket.disconnect", "code": message["code"]})
        await socket.from_app.put(message)

    await socket.to_app.put({"type": "websocket.connect"})

    async def serve() -> None:
        await app(scope, receive, send)

    served = asyncio.create_task(serve())
    try:
        first = await asyncio.wait_for(socket.from_app.get(), TIMEOUT_SECONDS)
        if first["type"] == "websocket.close":
            raise Closed(first.get("code", 1000), first.get("reason") or "", accepted=False)
        assert first["type"] == "websocket.accept", first
        socket.subprotocol = first.get("subprotocol")
        yield socket
    finally:
        await socket.to_app.put({"type": "websocket.disconnect", "code": 1000})
        try:
            await asyncio.wait_for(served, TIMEOUT_SECONDS)
        except TimeoutError:
            served.cancel()
            raise


class GraphQLWS:
    """The client side of `graphql-transport-ws`, over either kind of socket."""

    def __init__(self, socket: Socket) -> None:
        self.socket = socket

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send_text(json.dumps(message))

    async def receive(self, within: float = TIMEOUT_SECONDS) -> dict[str, Any]:
        """The next message other than a ping (which it answers)."""
        while True:
            message: dict[str, Any] = json.loads(await self.socket.receive_text(within))
            if message["type"] != "ping":
                return message
            await self.send({"type": "pong"})

    async def init(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        await self.send({"type": "connection_init", "payload": params or {}})
        return await self.receive()

    async def subscribe(self, id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        payload: dict[str, Any] = {"query": query}
        if variables:
            payload["variables"] = variables
        await self.send({"id": id, "type": "subscribe", "payload": payload})

    async def complete(self, id: str) -> None:
        await self.send({"id": id, "type": "complete"})

    async def next_of(self, id: str, within: float = TIMEOUT_SECONDS) -> dict[str, Any]:
        """The next `next` payload of subscription `id`; any other message of it fails."""
        message = await self.receive(within)
        assert message.get("id") == id and message["type"] == "next", message
        payload: dict[str, Any] = message["payload"]
        return payload


class RealWebSocket:
    """A `websockets` client connection to a real server, as a `Socket`."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    @property
    def subprotocol(self) -> str | None:
        subprotocol: str | None = self.connection.subprotocol
        return subprotocol

    async def send_text(self, text: str) -> None:
        await self.connection.send(text)

    async def receive_text(self, within: float = TIMEOUT_SECONDS) -> str:
        from websockets.exceptions import ConnectionClosed

        try:
            message = await asyncio.wait_for(self.connection.recv(), within)
        except ConnectionClosed as closed:
            received = closed.rcvd
            raise Closed(
                received.code if received else 1006, received.reason if received else ""
            ) from closed
        assert isinstance(message, str), f"a binary frame: {message!r}"
        return message

    async def wait_closed(self, within: float = TIMEOUT_SECONDS) -> Closed:
        while True:
            try:
                await self.receive_text(within)
            except Closed as closed:
                return closed


@contextlib.asynccontextmanager
async def real_websocket(
    url: str, *, subprotocols: Sequence[str] = (PROTOCOL,), headers: Mapping[str, str] | None = None
) -> AsyncIterator[RealWebSocket]:
    """`url`: the server's `http://` base URL and the path."""
    from websockets.asyncio.client import connect

    async with connect(
        "ws" + url.removeprefix("http"),
        subprotocols=list(subprotocols),  # type: ignore[arg-type]
        additional_headers=dict(headers or {}),
        open_timeout=TIMEOUT_SECONDS,
    ) as connection:
        yield RealWebSocket(connection)
