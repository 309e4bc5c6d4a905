"""The ASGI application: `uvicorn app.main:app`."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from app.container import Container
from app.core import metrics
from app.core.errors import AppError
from app.core.tasks import cancel
from app.http.errors import UnexpectedErrorMiddleware, app_error_handler, http_error_handler
from app.ops.body_limit import BodyLimitMiddleware
from app.ops.cors import cors_middleware
from app.ops.health import healthz, readyz
from app.ops.logging import configure_logging
from app.ops.metrics import metrics_endpoint
from app.ops.requests import RequestsMiddleware
from app.ops.self_limit import SelfLimitMiddleware
from app.ops.server_proxy import disable_uvicorn_proxy_headers
from app.rest.direct import DirectRoutes
from app.rest.endpoint import BASE_PATH
from app.rest.openapi import openapi_document
from app.rest.router import direct_routes, rest_routes
from app.settings import Settings

YOUNG_GENERATION_OBJECTS = 20_000


class Service(Starlette):
    """Starlette, with the app's own `UnexpectedErrorMiddleware` in place of Starlette's
    `ServerErrorMiddleware`: both turn an escaped exception into a 500, and every response
    would pass through the two of them."""

    def build_middleware_stack(self) -> ASGIApp:
        handlers = {
            key: handler
            for key, handler in self.exception_handlers.items()
            if key not in (500, Exception)
        }
        app: ASGIApp = ExceptionMiddleware(self.router, handlers=handlers, debug=self.debug)
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app


async def openapi(_request: Request) -> Response:
    return JSONResponse(openapi_document())


def create_app(
    settings: Settings | None = None, *, container: Container | None = None
) -> Starlette:
    settings = settings or Settings()
    configure_logging(settings.log_level)
    metrics.record(settings.metrics)
    container = container or Container(settings)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await container.start()
        # What start-up allocated lives as long as the process: keep it out of every
        # garbage collection from now on. Every request then allocates a few hundred
        # short-lived objects, nearly none in cycles: the default young generation of 700
        # ran a collection every few requests, for 3-4% of the hot path's CPU.
        gc.freeze()
        gc.set_threshold(YOUNG_GENERATION_OBJECTS, *gc.get_threshold()[1:])
        flusher = asyncio.create_task(metrics.flush_periodically())
        try:
            yield
        finally:
            await container.stop()
            await cancel(flusher)
            metrics.worker_stopped()

    from app.graphql.endpoint import graphql_routes

    routes = [
        *graphql_routes(container),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route(f"{BASE_PATH}/openapi.json", openapi, methods=["GET"]),
        *rest_routes(),
    ]
    if settings.metrics:
        routes.append(Route("/metrics", metrics_endpoint, methods=["GET"]))
    # Outermost of all when traces are on: every request is a span, its refusals too;
    # then every request's id, count and latency, whichever layer answers it.
    tracing = [container.tracing.http_middleware(routes)] if container.tracing else []
    requests = Middleware(
        RequestsMiddleware,
        routes=routes,
        counted=settings.metrics,
        access_log=settings.access_log,
    )
    app = Service(
        routes=routes,
        middleware=[
            *tracing,
            requests,
            # A preflight of any path, the hot paths' included, is answered there, and
            # every answer carries the CORS headers.
            *cors_middleware(settings),
            # The hot paths, ahead of the rest: they do what the rest does themselves.
            Middleware(DirectRoutes, routes=direct_routes()),
            Middleware(UnexpectedErrorMiddleware),
            Middleware(SelfLimitMiddleware, self_limit=container.self_limit),
            Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
        ],
        exception_handlers={AppError: app_error_handler, HTTPException: http_error_handler},
        lifespan=lifespan,
    )
    # A path with a trailing slash is not served: 404 with the error body and headers,
    # rather than a bare redirect that carries neither.
    app.router.redirect_slashes = False
    app.state.container = container
    return app


def __getattr__(name: str) -> Starlette:
    """`app.main:app` is built on first access, so importing this module has no effects."""
    if name == "app":
        disable_uvicorn_proxy_headers()
        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(name)
