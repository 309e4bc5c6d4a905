"""`/graphql`: Strawberry's ASGI view, with the product's context and request errors.

POST runs queries and mutations; GET runs queries only (a mutation over GET is 405, as the
GraphQL-over-HTTP spec asks) and, from a browser, serves GraphiQL, the app's own page and
files (`app.graphql.ide`). Requests that are not GraphQL requests at all answer 4xx with a
GraphQL-shaped `errors` body. A WebSocket on the same path runs subscriptions
(`app.graphql.websocket`).
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UnsetType

from app.container import Container
from app.core.errors import AppError, InvalidInput, MethodNotAllowed, NotFound, new_error_id
from app.core.json import read_json
from app.graphql.context import GraphQLContext
from app.graphql.errors import (
    WRONG_TRANSPORT,
    is_rendered,
    render_error,
    render_request_error,
)
from app.graphql.ide import asset, graphiql_page
from app.graphql.schema import build_schema
from app.graphql.websocket import SubscriptionSlots, TextWebSocketAdapter, TransportWSHandler
from app.http.error_log import log_unexpected
from app.http.errors import header_value
from app.http.paths import GRAPHQL_PATH, GRAPHQL_STATIC_PATH

# A connection that has not sent its `connection_init` by then is closed (4408).
CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)
INTERNAL_ERROR_CLOSE = 1011


class GraphQLView(GraphQL[GraphQLContext, None]):
    graphql_transport_ws_handler_class = TransportWSHandler
    websocket_adapter_class = TextWebSocketAdapter

    def __init__(self, container: Container) -> None:
        tracing = container.tracing
        tracer = None if tracing is None else lambda: tracing.tracer
        settings = container.settings
        super().__init__(
            build_schema(settings, tracer=tracer),
            graphql_ide="graphiql",
            # The protocol of the maintained client (graphql-ws), GraphiQL, Apollo and urql.
            # The legacy `graphql-ws` protocol of the deprecated subscriptions-transport-ws
            # is refused: no current client needs it, its refusals are messages rather
            # than the close codes clients act on, and a second protocol would double
            # what there is to secure.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=CONNECTION_INIT_TIMEOUT,
            # The caps are the service's own (`SubscriptionSlots`), answered with a code.
            max_subscriptions_per_connection=None,
            # A browser page may open a WebSocket to any host, with the user's cookies:
            # only this server's own pages and the origins allowed for CORS may.
            allowed_origins=settings.cors_origins,
        )
        self.container = container
        self.slots = SubscriptionSlots(
            settings.graphql_subscriptions_per_connection,
            settings.graphql_subscriptions_per_caller,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
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

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Nothing escapes a connection: the ASGI server would log it without its error
        id. The client sees 1011, or 403 when the handshake was not accepted yet."""
        try:
            await super().__call__(scope, receive, send)
        except Exception as exc:
            log_unexpected(new_error_id(), exc, "unexpected error on a GraphQL WebSocket")
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": INTERNAL_ERROR_CLOSE})

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> GraphQLContext:
        if isinstance(request, WebSocket):
            return GraphQLContext(self.container, request, self.slots.connection())
        return GraphQLContext(self.container, request)

    async def on_ws_connect(self, context: GraphQLContext) -> UnsetType | dict[str, object] | None:
        """A connection's `connection_init`: its credentials, as an HTTP request's."""
        await context.connect()
        return UnsetType()  # acknowledged without a payload

    async def render_graphql_ide(self, request: Request) -> Response:
        """Strawberry's page would load GraphiQL from a CDN; this one, from this server."""
        return graphiql_page(request.scope.get("root_path", ""), request.headers.get("host"))

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
    cause = exc.__cause__
    if isinstance(cause, InvalidOperationTypeError):
        if cause.operation_type is OperationType.SUBSCRIPTION:
            message = WRONG_TRANSPORT[OperationType.SUBSCRIPTION]
            return _request_error(MethodNotAllowed(message), {"allow": "GET, POST"})
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
    view = GraphQLView(container)
    return [
        Route(GRAPHQL_PATH, view, methods=["GET", "POST"]),
        WebSocketRoute(GRAPHQL_PATH, view),
        Route(f"{GRAPHQL_STATIC_PATH}/{{name:path}}", asset, methods=["GET"]),
    ]
