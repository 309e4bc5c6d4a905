"""The REST router: one Starlette route per documented path, each endpoint behind the
check of who may call it and rendering its errors' params as the endpoint names them
(`app.rest.params`); and the hot paths, served ahead of the router."""

from __future__ import annotations

import functools
import inspect
from typing import cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from app.auth.principal import Access
from app.auth.seats import admit
from app.core.errors import AppError
from app.http.errors import error_response
from app.rest.context import RestCall
from app.rest.endpoint import BASE_PATH, Endpoint, Handler, RequestHandler
from app.rest.params import RestParams
from app.rest.routes import ENDPOINTS

# Asked on other services' hot path: served ahead of the router (`DirectRoutes`).
HOT_PATHS = ("/limits/consume", "/limits/check", "/limits/consume/batch")


def direct_routes() -> dict[tuple[str, str], ASGIApp]:
    """The hot paths, as (method, full path) → their ASGI endpoint, for `DirectRoutes`."""
    return {
        (endpoint.method, BASE_PATH + endpoint.path): cast(ASGIApp, endpoint.handler)
        for endpoint in ENDPOINTS
        if endpoint.path in HOT_PATHS
    }


def rest_routes() -> list[Route]:
    """One route per path, whose methods are all its endpoints' (so a 405 names them
    all), in matching order: fixed paths before parameterised ones, which is what keeps
    `/limits/usage` from being taken for `/limits/{serviceName}`."""
    by_path: dict[str, list[Endpoint]] = {}
    for endpoint in ENDPOINTS:
        by_path.setdefault(endpoint.path, []).append(endpoint)
    ordered = sorted(by_path.items(), key=lambda item: "{" in item[0])
    return [
        Route(BASE_PATH + path, _dispatch(endpoints), methods=[e.method for e in endpoints])
        for path, endpoints in ordered
    ]


def _dispatch(endpoints: list[Endpoint]) -> Handler:
    if len(endpoints) == 1:
        return _served(endpoints[0])
    handlers = {endpoint.method: _served(endpoint) for endpoint in endpoints}
    if "GET" in handlers:
        handlers["HEAD"] = handlers["GET"]

    async def by_method(request: Request) -> Response:
        return await cast(RequestHandler, handlers[request.method])(request)

    return by_method


def _served(endpoint: Endpoint) -> Handler:
    """The handler, behind the check of who may call it at all and of the caller's seat
    on their team where the operation declares one (before any input is read), its errors
    rendered with the endpoint's names of their params. The hot paths' ASGI endpoints
    check their callers (no seat: they declare none) and render their errors themselves."""
    handler = endpoint.handler
    if not inspect.iscoroutinefunction(handler):
        return handler
    respond = cast(RequestHandler, handler)
    declared = endpoint.declaration
    guarded = declared.access is not Access.ANYONE
    params = RestParams.of(endpoint.path, endpoint.body, endpoint.query)

    @functools.wraps(respond)
    async def served(request: Request) -> Response:
        try:
            if guarded:
                principal = await RestCall.principal_of(request)
                service_name = request.path_params.get("serviceName")
                db = request.app.state.container.db
                await admit(db, principal, declared, service_name=service_name)
            return await respond(request)
        except AppError as error:
            return error_response(error, error.headers, params)

    return served
