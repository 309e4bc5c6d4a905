"""Refuses request bodies over the configured size before anyone parses them."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import PayloadTooLarge
from app.http.errors import error_response_for


class BodyLimitMiddleware:
    """Pure ASGI: a declared length over the limit is answered at once; a streamed body
    is counted as it arrives and refused as soon as it passes the limit. A body of a
    declared length within the limit is passed as it is: the server reads no more than
    the declared length (unless the request is also chunked, which is then counted)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked = _framing(scope)
        if declared is not None and declared > self.max_bytes:
            await error_response_for(scope, self._error())(scope, receive, send)
            return
        if declared is not None and not chunked:
            await self.app(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._error()
            return message

        await self.app(scope, limited_receive, send)

    def _error(self) -> PayloadTooLarge:
        return too_large(self.max_bytes)


def too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than {max_bytes} bytes.")


async def read_body(scope: Scope, receive: Receive, max_bytes: int) -> bytes:
    """The whole body of a request, under the same limit as `BodyLimitMiddleware`: for
    endpoints served ahead of it. `PayloadTooLarge` as soon as it is passed."""
    declared, _ = _framing(scope)
    if declared is not None and declared > max_bytes:
        raise too_large(max_bytes)
    chunks: list[bytes] = []
    received = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > max_bytes:
            raise too_large(max_bytes)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The declared Content-Length (None when absent or unreadable), and whether a
    Transfer-Encoding is sent too."""
    declared: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                chunked = True  # an unreadable length: count what arrives
        elif name == b"transfer-encoding":
            chunked = True
    return declared, chunked
