"""Exact routes served ahead of Starlette's router, for the hot path."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

from app.http.paths import DIRECT_ROUTE, route_path


class DirectRoutes:
    """Pure ASGI, the outermost layer: a request whose method and path are one of `routes`
    goes straight to its endpoint, an ASGI app that does the work of the layers it skips
    (the service's own limit, the body limit, rendering its errors and unexpected
    failures), which cost a metering call more than its own work does. Everything else,
    other methods on the same paths included, goes on through the middleware."""

    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], ASGIApp]) -> None:
        self.app = app
        self._routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = route_path(scope)
            endpoint = self._routes.get((scope["method"], path))
            if endpoint is not None:
                scope[DIRECT_ROUTE] = path
                await endpoint(scope, receive, send)
                return
        await self.app(scope, receive, send)
