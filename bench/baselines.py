"""The baselines the service is measured against, as uvicorn app factories:

    uvicorn --factory bench.baselines:bare

- `bare`: a Starlette JSON endpoint that parses the consume request and answers a decision
  of the same shape, with nothing else around it;
- `slowapi`: the same endpoint protected by slowapi as its documentation starts, with the
  `@limiter.limit` decorator (in-process storage, fixed window), RateLimit headers on as
  the service sends them; `slowapi_asgi` and `slowapi_http`: the same limit for every
  endpoint through slowapi's pure ASGI middleware and its `BaseHTTPMiddleware` one;
- `static_graphql`: a Strawberry schema whose `usage` field answers a fixed report of the
  shape the service's usage query returns (30 features), with the parser and validation
  caches the service's schema has, so only GraphQL itself costs.
"""

from __future__ import annotations

import enum
import time
from typing import Any

import strawberry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from strawberry.extensions import ParserCache, ValidationCache

CONSUME_PATH = "/consume"
GRAPHQL_PATH = "/graphql"
FEATURES_PER_SERVICE = 6
SERVICES = ("ai-api", "search-api", "compute-api", "feeds-api", "analytics-api")
BASELINE_LIMIT = "1000000000/minute"


async def _decide(request: Request) -> Response:
    data = await request.json()
    amount = int(data.get("amount", 1))
    return JSONResponse(
        {
            "allowed": True,
            "currentUsage": amount,
            "limit": -1,
            "remaining": -1,
            "resetAt": int(time.time()) // 60 * 60 + 60,
        }
    )


def bare() -> Starlette:
    return Starlette(routes=[Route(CONSUME_PATH, _decide, methods=["POST"])])


def slowapi() -> Starlette:
    from slowapi import Limiter
    from slowapi.util import get_remote_address

    limiter = Limiter(key_func=get_remote_address, headers_enabled=True)

    @limiter.limit(BASELINE_LIMIT)
    async def decide(request: Request) -> Response:
        return await _decide(request)

    return _limited(Starlette(routes=[Route(CONSUME_PATH, decide, methods=["POST"])]), limiter)


def slowapi_asgi() -> Starlette:
    from slowapi.middleware import SlowAPIASGIMiddleware

    return _limited_everywhere(SlowAPIASGIMiddleware)


def slowapi_http() -> Starlette:
    from slowapi.middleware import SlowAPIMiddleware

    return _limited_everywhere(SlowAPIMiddleware)


def _limited_everywhere(middleware: Any) -> Starlette:
    from slowapi import Limiter
    from slowapi.util import get_remote_address

    limiter = Limiter(
        key_func=get_remote_address, default_limits=[BASELINE_LIMIT], headers_enabled=True
    )
    app = Starlette(
        routes=[Route(CONSUME_PATH, _decide, methods=["POST"])],
        middleware=[Middleware(middleware)],
    )
    return _limited(app, limiter)


def _limited(app: Starlette, limiter: Any) -> Starlette:
    from slowapi import _rate_limit_exceeded_handler
    from slowapi.errors import RateLimitExceeded

    app.state.limiter = limiter
    app.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded_handler)  # type: ignore[arg-type]
    return app


@strawberry.enum
class IdentifierType(enum.Enum):
    USER = "user"
    IP = "ip"


@strawberry.enum
class Window(enum.Enum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


@strawberry.type
class FeatureUsage:
    service_name: str
    feature_key: str
    tier_name: str
    window: Window
    description: str
    current_usage: int
    limit: int
    remaining: int
    reset_at: int
    is_locked: bool


@strawberry.type
class Usage:
    identifier: str
    identifier_type: IdentifierType
    total_features: int
    fetched_at: int
    features: list[FeatureUsage]


STATIC_FEATURES = [
    FeatureUsage(
        service_name=service,
        feature_key=f"feature_{n}_per_minute",
        tier_name="enterprise_max",
        window=Window.MINUTE,
        description=f"Requests of kind {n} per minute",
        current_usage=0,
        limit=-1,
        remaining=-1,
        reset_at=0,
        is_locked=False,
    )
    for service in SERVICES
    for n in range(FEATURES_PER_SERVICE)
]


def static_usage(service_name: str | None = None) -> Usage:
    return Usage(
        identifier="00000000-0000-0000-0000-000000000000",
        identifier_type=IdentifierType.USER,
        total_features=len(STATIC_FEATURES),
        fetched_at=int(time.time()),
        features=STATIC_FEATURES,
    )


@strawberry.type
class StaticQuery:
    usage: Usage = strawberry.field(resolver=static_usage)


def static_graphql() -> Starlette:
    from strawberry.asgi import GraphQL

    schema = strawberry.Schema(query=StaticQuery, extensions=[ParserCache, ValidationCache])
    view: Any = GraphQL(schema)
    return Starlette(routes=[Route(GRAPHQL_PATH, view, methods=["GET", "POST"])])
