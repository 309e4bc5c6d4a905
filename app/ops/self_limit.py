"""The service's own rate limit (SPEC §3.5), on every endpoint, GraphQL included.

Authenticated callers are counted per user, anonymous callers by client address (IPv6 by
/64), each on its own budget from the settings. The counters live in the same `limits`
storage as the usage counters, so processes sharing Redis share the budgets.

Fixed windows aligned to the clock: one atomic increment per request (a single round trip
on Redis) whose result gives the decision and the RateLimit headers at once, and one
integer per caller and window. A moving window would keep a timestamp per request (up to
the whole budget per caller) and needs further reads for the headers; the price of fixed
windows is that a caller may spend up to twice the budget across a window boundary,
which is acceptable for a limit that protects the service rather than bills anyone.

The caller is authenticated here, once per request, and left in the request's state for
the transport. A request whose credentials fail is counted as anonymous by address and
passed on with the failure, which the transport raises where it would have authenticated,
rendering it in its own format (REST error body, GraphQL error).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable

from limits import RateLimitItem, parse
from limits.aio.strategies import FixedWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.client_ip import client_ip, rate_key
from app.auth.principal import CREDENTIAL_ERROR_STATE, PRINCIPAL_STATE
from app.container import Container
from app.core.errors import AppError, RateLimited
from app.rest.errors import error_response
from app.usage.counters import storage_of
from app.usage.headers import rate_limit_headers

logger = logging.getLogger(__name__)
POLICY = "self"
WARN_EVERY_SECONDS = 60.0
EXEMPT_PATHS = frozenset({"/healthz", "/readyz"})


class CountingFixedWindow(FixedWindowRateLimiter):
    """`hit` that answers the count after the hit, for the RateLimit headers."""

    async def hit_count(self, item: RateLimitItem, *identifiers: str) -> int:
        return await self.storage.incr(item.key_for(*identifiers), item.get_expiry())


class SelfLimitMiddleware:
    """Pure ASGI. Over the budget: 429 with the REST error body (`RATE_LIMITED`) and
    `Retry-After`; every counted response carries `RateLimit-Policy` and `RateLimit`."""

    def __init__(
        self, app: ASGIApp, container: Container, exempt: Iterable[str] = EXEMPT_PATHS
    ) -> None:
        settings = container.settings
        self.app = app
        self._credentials = container.credentials
        self._clock = container.clock
        self._trusted = settings.trusted_proxy_networks
        self._anonymous = parse(settings.self_limit_anonymous)
        self._user = parse(settings.self_limit_user)
        self._limiter = CountingFixedWindow(storage_of(container.counters))
        self._exempt = frozenset(exempt)
        self._warned_at = -math.inf

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._exempt:
            await self.app(scope, receive, send)
            return
        kind, caller, item = await self._caller(scope)
        window = item.get_expiry()
        now = self._clock().timestamp()
        index = int(now // window)
        try:
            count = await self._limiter.hit_count(item, POLICY, kind, caller, str(index))
        except Exception as exc:
            # The limit protects the service; an unreachable counter storage must not
            # take down the endpoints that do not need it. Metering fails on its own.
            self._warn_unavailable(exc)
            await self.app(scope, receive, send)
            return
        reset_in = max(1, math.ceil((index + 1) * window - now))
        refused = count > item.amount
        headers = rate_limit_headers(
            POLICY,
            limit=item.amount,
            remaining=item.amount - count,
            reset_in=reset_in,
            window=window,
            refused=refused,
        )
        if refused:
            error = RateLimited(f"Too many requests: retry in {reset_in} seconds.", headers=headers)
            await error_response(error, error.headers)(scope, receive, send)
            return
        raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *raw]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _warn_unavailable(self, exc: Exception) -> None:
        if time.monotonic() - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = time.monotonic()
            logger.warning("own rate limit skipped: the counter storage failed", exc_info=exc)

    async def _caller(self, scope: Scope) -> tuple[str, str, RateLimitItem]:
        headers = _header_map(scope)
        client = scope.get("client")
        peer = client[0] if client else None
        # A copy: some servers hand every request the lifespan's own state dict.
        state = scope["state"] = dict(scope.get("state", ()))
        try:
            principal = await self._credentials.authenticate(headers, peer)
        except AppError as exc:
            state[CREDENTIAL_ERROR_STATE] = exc
            ip = client_ip(peer, headers.get("x-forwarded-for"), self._trusted)
            return "ip", rate_key(ip), self._anonymous
        state[PRINCIPAL_STATE] = principal
        if principal.user_id is None:
            return "ip", rate_key(principal.client_ip), self._anonymous
        return "user", str(principal.user_id), self._user


def _header_map(scope: Scope) -> dict[str, str]:
    """The request's headers by (lower-case) name, the first of repeated ones as Starlette's
    `Headers.get` answers: built once, then every lookup is a dict's."""
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1")
        if key not in headers:
            headers[key] = value.decode("latin-1")
    return headers
