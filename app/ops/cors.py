"""Cross-origin requests from the browser apps the operator names (SPEC §6,
`BILLING_CORS_ORIGINS`); none by default, and then no CORS header at all.

Outermost, ahead of the hot paths served before the router, so that a preflight of any
path is answered here and every answer, errors included, carries the CORS headers.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

from app.core.errors import InvalidInput
from app.http.errors import error_response_for
from app.settings import Settings

ALLOWED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ALLOWED_HEADERS = ("Authorization", "api-key", "api-secret", "Content-Type", "X-Request-Id")
EXPOSED_HEADERS = (
    "x-error",
    "x-error-id",
    "x-request-id",
    "RateLimit",
    "RateLimit-Policy",
    "Retry-After",
)
PREFLIGHT_MAX_AGE_SECONDS = 600


class CorsMiddleware(CORSMiddleware):
    """Starlette's, with a refused preflight in the product's error shape."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "OPTIONS":
            await super().__call__(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if "origin" not in headers or "access-control-request-method" not in headers:
            await super().__call__(scope, receive, send)
            return
        response = self.preflight_response(request_headers=headers)
        if response.status_code >= 400:
            reason = bytes(response.body).decode("utf-8", "replace")
            response = error_response_for(scope, InvalidInput(f"{reason}."), {"Vary": "Origin"})
        await response(scope, receive, send)


def cors_middleware(settings: Settings) -> list[Middleware]:
    if not settings.cors_origins:
        return []
    return [
        Middleware(
            CorsMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=ALLOWED_METHODS,
            allow_headers=ALLOWED_HEADERS,
            # Never with a wildcard origin: the settings refuse one.
            allow_credentials=True,
            expose_headers=EXPOSED_HEADERS,
            max_age=PREFLIGHT_MAX_AGE_SECONDS,
        )
    ]
