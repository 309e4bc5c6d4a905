"""Every request has an id: the client's `X-Request-Id` when it is well-formed (a proxy's
or a caller's trace of its own), a new one otherwise. It is echoed in the response's
`X-Request-Id`, and every log line written while the request is served carries it as
`request_id`, beside the `error_id` of a failure.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Sequence

import structlog
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.paths import route_template

HEADER = b"x-request-id"
# Room for a UUID, a W3C trace id or a proxy's own format; nothing that could forge a log
# line or a header.
WELL_FORMED = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")
logger = logging.getLogger("app.access")


def request_id_of(scope: Scope) -> str:
    value: bytes
    for name, value in scope["headers"]:
        if name == HEADER:
            if WELL_FORMED.fullmatch(value):
                return value.decode()
            break
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Pure ASGI. `access_log`: one line per request (method, route template, status,
    milliseconds), which costs the hot path a JSON line each: off unless asked for."""

    def __init__(
        self, app: ASGIApp, *, routes: Sequence[BaseRoute] = (), access_log: bool = False
    ) -> None:
        self.app = app
        self._routes = routes
        self._access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        header = (HEADER, request_id.encode())
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                if self._access_log:
                    logger.info(
                        "request",
                        extra={
                            "method": scope["method"],
                            "route": route_template(scope, self._routes),
                            "status": status,
                            "ms": round((time.perf_counter() - started) * 1000, 3),
                        },
                    )
