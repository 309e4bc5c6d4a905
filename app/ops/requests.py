"""Every request, seen once on its way in and out, in one pure-ASGI layer (each layer
costs the hot path a frame per message):

- its id: the client's `X-Request-Id` when well-formed (a proxy's or a caller's trace of
  its own), a new one otherwise; echoed in the response's `X-Request-Id`, and on every log
  line written while the request is served (`request_id`, beside a failure's `error_id`);
- its count and latency in the metrics, by route template, method and status;
- with `BILLING_ACCESS_LOG`, one JSON line (method, route template, status, milliseconds).
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Sequence

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import metrics
from app.http.paths import route_template
from app.ops.logging import REQUEST_ID

HEADER = b"x-request-id"
# Room for a UUID, a W3C trace id or a proxy's own format; nothing that could forge a log
# line or a header.
WELL_FORMED = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
logger = logging.getLogger("app.access")


def request_id_of(scope: Scope) -> str:
    """The client's id when well-formed; else 128 random bits from the process's generator
    (an id needs no secrecy, and a system call each would cost the hot path)."""
    value: bytes
    for name, value in scope["headers"]:
        if name == HEADER:
            if WELL_FORMED.fullmatch(value):
                return value.decode()
            break
    return f"{random.getrandbits(128):032x}"


class RequestsMiddleware:
    """Pure ASGI, outermost but the traces'. `counted`: record the metrics (BILLING_METRICS);
    `access_log`: the line per request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Sequence[BaseRoute] = (),
        counted: bool = True,
        access_log: bool = False,
    ) -> None:
        self.app = app
        self._routes = routes
        self._counted = counted
        self._access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope)
        header = (HEADER, request_id.encode())
        status = 500  # what the client gets if nothing was sent

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self._counted or self._access_log:
                self._seen(scope, status, time.perf_counter() - started)
            REQUEST_ID.reset(token)

    def _seen(self, scope: Scope, status: int, seconds: float) -> None:
        route = route_template(scope, self._routes)
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
        if self._counted:
            metrics.answered(route, method, status, seconds)
        if self._access_log:
            extra = {"method": method, "route": route, "status": status, "ms": seconds * 1000}
            logger.info("request", extra=extra)
