"""`/graphql`: Strawberry's ASGI view, with the product's context and request errors.

POST runs any operation; GET runs queries only (a mutation over GET is 405, as the
GraphQL-over-HTTP spec asks) and, from a browser, serves GraphiQL, the app's own page and
files (`app.graphql.ide`). Requests that are not GraphQL requests at all answer 4xx with a
GraphQL-shaped `errors` body.
"""

from __future__ import annotations

from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult

from app.container import Container
from app.core.errors import AppError, InvalidInput, MethodNotAllowed, NotFound
from app.core.json import read_json
from app.graphql.context import GraphQLContext
from app.graphql.errors import is_rendered, render_error, render_request_error
from app.graphql.ide import asset, graphiql_page
from app.graphql.schema import build_schema
from app.http.errors import header_value
from app.http.paths import GRAPHQL_PATH, GRAPHQL_STATIC_PATH


class GraphQLView(GraphQL[GraphQLContext, None]):
    def __init__(self, container: Container) -> None:
        tracing = container.tracing
        tracer = None if tracing is None else lambda: tracing.tracer
        super().__init__(build_schema(container.settings, tracer=tracer), graphql_ide="graphiql")
        self.container = container

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope, receive))
        except HTTPException as exc:
            response = _http_error(exc)
        except AppError as exc:
            response = _request_error(exc)
        await response(scope, receive, send)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> GraphQLContext:
        assert isinstance(request, Request)
        return GraphQLContext(self.container, request)

    async def render_graphql_ide(self, request: Request) -> Response:
        """Strawberry's page would load GraphiQL from a CDN; this one, from this server."""
        return graphiql_page(request.scope.get("root_path", ""))

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """Errors raised where no extension sees them (a failing extension hook) are
        rendered here, so none reaches a client unmasked."""
        if result.errors:
            result.errors = [e if is_rendered(e) else render_error(e) for e in result.errors]
        return await super().process_result(request, result)

    def encode_json(self, data: object) -> bytes:
        """orjson: the answer of a 30-feature report is written several times faster than
        by the standard library, with the same JSON (GraphQL has no NaN and 32-bit Ints)."""
        return orjson.dumps(data)

    def parse_json(self, data: str | bytes) -> Any:
        """A request body, or the `variables` and `extensions` of a GET, by the service's
        one JSON reader: what it refuses is `MALFORMED_JSON`."""
        value = read_json(data)
        if not isinstance(value, dict | list):
            raise InvalidInput("A GraphQL request is a JSON object with a `query` string.")
        return value


def _http_error(exc: HTTPException) -> Response:
    """Strawberry's own refusals, in the product's codes."""
    if isinstance(exc.__cause__, InvalidOperationTypeError):
        return _request_error(MethodNotAllowed(exc.reason), {"allow": "POST"})
    if exc.status_code == 405:
        return _request_error(MethodNotAllowed(exc.reason), {"allow": "GET, POST"})
    if exc.status_code == 404:
        return _request_error(NotFound(exc.reason))
    return _request_error(InvalidInput(exc.reason))


def _request_error(error: AppError, headers: dict[str, str] | None = None) -> Response:
    """An HTTP error status, so it carries the `x-error` headers as REST's errors do."""
    body = render_request_error(error)
    error_headers = {
        "x-error": header_value(body["errors"][0]["message"]),
        "x-error-id": body["errors"][0]["extensions"]["errorId"],
    }
    return JSONResponse(
        body, status_code=error.status, headers={**error_headers, **(headers or {})}
    )


def graphql_routes(container: Container) -> list[BaseRoute]:
    return [
        Route(GRAPHQL_PATH, GraphQLView(container), methods=["GET", "POST"]),
        Route(f"{GRAPHQL_STATIC_PATH}/{{name:path}}", asset, methods=["GET"]),
    ]
