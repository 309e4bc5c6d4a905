"""The service's own rate limit (SPEC §3.5), on every endpoint, GraphQL included.

Authenticated callers are counted per user, anonymous callers by client address (IPv6 by
/64), each on its own budget from the settings. Metered services (billing_service) have
a budget of their own, none unless `BILLING_SELF_LIMIT_SERVICE` sets one: they sit on
other services' hot paths, and what they meter is already bounded by the catalog. The
counters live in the same `limits` storage as the usage counters, so processes sharing
Redis share the budgets.

The strategy is chosen by name (`BILLING_SELF_LIMIT_STRATEGY`). The default,
`fixed-window`, is the cheapest: one integer per caller and window, one increment per
request; its price is that a caller may spend up to twice the budget across a window
boundary, which is acceptable for a limit that protects the service rather than bills
anyone. `moving-window` and `sliding-window-counter` remove that at a higher cost.

The caller is authenticated here, once per request, and left in the request's state for
the transport. A request whose credentials fail is counted as anonymous by address and
passed on with the failure, which the transport raises where it would have authenticated,
rendering it in its own format (REST error body, GraphQL error).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import STRATEGIES, RateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.client_ip import client_ip, rate_key
from app.auth.credentials import CredentialBackend, credential_headers
from app.auth.principal import CREDENTIAL_ERROR_STATE, PRINCIPAL_STATE, Principal
from app.core import metrics
from app.core.clock import Clock
from app.core.errors import AppError, TooManyRequests
from app.http.errors import error_response_for
from app.http.headers import rate_limit_headers, raw_headers
from app.http.paths import GRAPHQL_STATIC_PATH, route_path
from app.settings import Settings
from app.usage.counters import CounterStore, storage_of

logger = logging.getLogger(__name__)
POLICY = "self"
WARN_EVERY_SECONDS = 60.0
# Probes and scrapers, and Stripe's webhooks: their signature is their credential, and
# Stripe retries.
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/api/billing/v1/stripe/webhook"})
# GraphiQL's scripts and styles: files in memory, cached by browsers for good. Counted,
# one page view would spend six requests of its address's anonymous budget, and a refused
# script leaves the page blank.
EXEMPT_PREFIXES = (GRAPHQL_STATIC_PATH + "/",)
FIXED_WINDOW = "fixed-window"


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    remaining: int
    reset_in: int


class Strategy(Protocol):
    async def hit(self, item: RateLimitItem, kind: str, caller: str) -> Verdict: ...


class ClockAlignedWindow:
    """`fixed-window`: windows aligned to the clock, as the feature counters' are. One
    atomic increment per request (a single round trip on Redis) gives the decision and
    the headers at once, and a caller costs one integer per window."""

    def __init__(self, counters: CounterStore, clock: Clock) -> None:
        self._counters = counters
        self._clock = clock

    async def hit(self, item: RateLimitItem, kind: str, caller: str) -> Verdict:
        window = item.get_expiry()
        now = self._clock().timestamp()
        index = int(now // window)
        key = f"self:{kind}:{caller}:{item.amount}/{window}:{index}"
        count = await self._counters.hit(key, window)
        reset_in = max(1, math.ceil((index + 1) * window - now))
        return Verdict(count <= item.amount, item.amount - count, reset_in)


class LibraryStrategy:
    """`moving-window` and `sliding-window-counter`: `limits`' own strategies over the same
    storage. Smoother at window boundaries, for a second read per request (and, for the
    moving window, a timestamp per hit kept for a whole window)."""

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter

    async def hit(self, item: RateLimitItem, kind: str, caller: str) -> Verdict:
        allowed = await self._limiter.hit(item, POLICY, kind, caller)
        stats = await self._limiter.get_window_stats(item, POLICY, kind, caller)
        reset_in = max(1, math.ceil(stats.reset_time - time.time()))
        return Verdict(allowed, stats.remaining, reset_in)


def strategy(name: str, counters: CounterStore, clock: Clock) -> Strategy:
    """The strategy of that name in `limits`' registry (`limits.aio.strategies`)."""
    if name == FIXED_WINDOW:
        return ClockAlignedWindow(counters, clock)
    # The registry's values are concrete subclasses of the abstract `RateLimiter`.
    limiter: Callable[[Storage], RateLimiter] = STRATEGIES[name]
    return LibraryStrategy(limiter(storage_of(counters)))


@dataclass(slots=True)
class Admission:
    """What the service's own limit made of a request: who is calling (or why their
    credentials failed), and either the RateLimit headers its answer carries or the
    refusal that is its answer."""

    principal: Principal | None
    credential_error: AppError | None
    headers: dict[str, str]
    refusal: AppError | None = None

    def caller(self) -> Principal:
        """The caller; credentials that failed fail here, where the transport renders."""
        if self.credential_error is not None:
            raise self.credential_error
        assert self.principal is not None
        return self.principal


class SelfLimit:
    """Authenticates a request's caller, once, and counts it against its budget."""

    def __init__(
        self,
        settings: Settings,
        credentials: CredentialBackend,
        counters: CounterStore,
        clock: Clock,
    ) -> None:
        self._credentials = credentials
        self._trusted = settings.trusted_proxy_networks
        self._anonymous = parse(settings.self_limit_anonymous)
        self._user = parse(settings.self_limit_user)
        service = settings.self_limit_service
        self._service = parse(service) if service else None
        self._strategy = strategy(settings.self_limit_strategy, counters, clock)
        self._warned_at = -math.inf

    async def admit(self, scope: Scope) -> Admission:
        """The caller is left in the request's state for the transport as well."""
        admission, budget = await self._caller(scope)
        if budget is None:  # a metered service without a budget of its own
            return admission
        kind, caller, item = budget
        try:
            verdict = await self._strategy.hit(item, kind, caller)
        except Exception as exc:
            # The limit protects the service; an unreachable counter storage must not
            # take down the endpoints that do not need it. Metering fails on its own.
            self._warn_unavailable(exc)
            return admission
        admission.headers = rate_limit_headers(
            POLICY,
            limit=item.amount,
            remaining=verdict.remaining,
            reset_in=verdict.reset_in,
            window=item.get_expiry(),
            refused=not verdict.allowed,
        )
        if not verdict.allowed:
            metrics.SELF_LIMIT_REFUSALS.labels(kind).inc()
            message = f"Too many requests: retry in {verdict.reset_in} seconds."
            admission.refusal = TooManyRequests(message, headers=admission.headers)
        return admission

    def _warn_unavailable(self, exc: Exception) -> None:
        if time.monotonic() - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = time.monotonic()
            logger.warning("own rate limit skipped: the counter storage failed", exc_info=exc)

    async def _caller(
        self, scope: Scope
    ) -> tuple[Admission, tuple[str, str, RateLimitItem] | None]:
        """The caller, and the budget it spends: (kind, key, limit), or none."""
        headers = credential_headers(scope)
        client = scope.get("client")
        peer = client[0] if client else None
        # A copy: some servers hand every request the lifespan's own state dict.
        state = scope["state"] = dict(scope.get("state", ()))
        try:
            principal = await self._credentials.authenticate(headers, peer)
        except AppError as exc:
            metrics.AUTH_FAILURES.labels(exc.code).inc()
            state[CREDENTIAL_ERROR_STATE] = exc
            ip = client_ip(peer, headers.get("x-forwarded-for"), self._trusted)
            return Admission(None, exc, {}), ("ip", rate_key(ip), self._anonymous)
        state[PRINCIPAL_STATE] = principal
        admission = Admission(principal, None, {})
        if principal.user_id is None:
            return admission, ("ip", rate_key(principal.client_ip), self._anonymous)
        if principal.is_metered_service:
            if self._service is None:
                return admission, None
            return admission, ("service", str(principal.user_id), self._service)
        return admission, ("user", str(principal.user_id), self._user)


class SelfLimitMiddleware:
    """Pure ASGI. Over the budget: 429 `TOO_MANY_REQUESTS` (GraphQL-shaped on /graphql)
    and `Retry-After`; every counted response carries `RateLimit-Policy` and `RateLimit`."""

    def __init__(
        self,
        app: ASGIApp,
        self_limit: SelfLimit,
        exempt: Iterable[str] = EXEMPT_PATHS,
        exempt_prefixes: Iterable[str] = EXEMPT_PREFIXES,
    ) -> None:
        self.app = app
        self._self_limit = self_limit
        self._exempt = frozenset(exempt)
        self._exempt_prefixes = tuple(exempt_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_exempt(route_path(scope)):
            await self.app(scope, receive, send)
            return
        admission = await self._self_limit.admit(scope)
        if admission.refusal is not None:
            error = admission.refusal
            await error_response_for(scope, error, error.headers)(scope, receive, send)
            return
        if not admission.headers:
            await self.app(scope, receive, send)
            return
        raw = raw_headers(admission.headers)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *raw]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _is_exempt(self, path: str) -> bool:
        return path in self._exempt or path.startswith(self._exempt_prefixes)
