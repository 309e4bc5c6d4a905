"""The one rendering of errors over HTTP: `x-error`, `x-error-id` and the JSON body.

The body is REST's `{"error": ...}`, except on the GraphQL endpoint, where it is
`{"errors": [{message, extensions: {code, status, errorId}}]}` whoever refuses the request
(`error_response_for`): the GraphQL endpoint itself, or the middleware ahead of it.

An error's `param` is the domain's name of the input at fault; the transport it is
rendered for knows how its clients name that input, and gives its spelling (`spell`).
Without one (ops' own refusals, which name no input), the param is shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import (
    AppError,
    InternalError,
    InvalidInput,
    MethodNotAllowed,
    RouteNotFound,
    new_error_id,
)
from app.http.error_log import log_error, log_unexpected
from app.http.headers import raw_headers
from app.http.paths import GRAPHQL_PATH, route_path

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# A domain param as one transport's clients name it.
ParamSpelling = Callable[[str], str]


def error_body(
    error: AppError, error_id: str, spell: ParamSpelling | None = None
) -> dict[str, Any]:
    param = _spelled(error, spell)
    body: dict[str, Any] = {
        "code": error.code,
        "message": error.message_naming(param),
        "error_id": error_id,
        "status": error.status,
    }
    if param is not None:
        body["param"] = param
    body.update(error.details)
    return {"error": body}


def graphql_error_body(
    error: AppError, error_id: str, spell: ParamSpelling | None = None
) -> dict[str, Any]:
    """The error as a GraphQL response's one error, for a request refused before any
    GraphQL was run."""
    param = _spelled(error, spell)
    extensions: dict[str, Any] = {"code": error.code, "status": error.status, "errorId": error_id}
    if param is not None:
        extensions["param"] = param
    extensions.update(error.details)
    return {"errors": [{"message": error.message_naming(param), "extensions": extensions}]}


BodyShape = Callable[[AppError, str, ParamSpelling | None], dict[str, Any]]


def body_shape(path: str) -> BodyShape:
    """The shape of an error's body on that path (the route's path within the app)."""
    return graphql_error_body if path == GRAPHQL_PATH else error_body


def _spelled(error: AppError, spell: ParamSpelling | None) -> str | None:
    if error.param is None or spell is None:
        return error.param
    return spell(error.param)


RawHeaders = list[tuple[bytes, bytes]]


def rendered_error(
    error: AppError,
    headers: dict[str, str] | None = None,
    spell: ParamSpelling | None = None,
    shape: BodyShape = error_body,
) -> tuple[RawHeaders, bytes]:
    """An error's response headers (as ASGI sends them) and JSON body, logged with its
    new error id. Rendered with orjson: a storm of refusals costs no more than the
    decisions it refuses."""
    error_id = new_error_id()
    log_error(error.code, error.status, error.message_naming(None), error_id)
    return render_error(error, error_id, headers, spell, shape)


def render_error(
    error: AppError,
    error_id: str,
    headers: dict[str, str] | None = None,
    spell: ParamSpelling | None = None,
    shape: BodyShape = error_body,
) -> tuple[RawHeaders, bytes]:
    body = orjson.dumps(shape(error, error_id, spell))
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-error", header_value(error.message_naming(_spelled(error, spell))).encode("latin-1")),
        (b"x-error-id", error_id.encode()),
        *raw_headers(headers or {}),
    ]
    return raw, body


def error_response(
    error: AppError,
    headers: dict[str, str] | None = None,
    spell: ParamSpelling | None = None,
    shape: BodyShape = error_body,
) -> Response:
    raw, body = rendered_error(error, headers, spell, shape)
    response = Response(body, status_code=error.status)
    response.raw_headers = raw
    return response


def error_response_for(
    scope: Scope, error: AppError, headers: dict[str, str] | None = None
) -> Response:
    """The error in the shape of the endpoint the request was going to."""
    return error_response(error, headers, shape=body_shape(route_path(scope)))


async def app_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return error_response_for(request.scope, exc, exc.headers)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405 (unknown route or method), in the product's shape."""
    assert isinstance(exc, HTTPException)
    error: AppError
    if exc.status_code == 404:
        error = RouteNotFound()
    elif exc.status_code == 405:
        error = MethodNotAllowed()
    elif exc.status_code < 500:
        error = InvalidInput(str(exc.detail))
    else:
        error = InternalError()
    return error_response_for(request.scope, error, dict(exc.headers or {}))


class UnexpectedErrorMiddleware:
    """Pure ASGI: anything that escapes the app is logged with its error id and answered
    with a generic 500, once (Starlette's own error middleware would re-raise it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            headers, body = unexpected_error(scope, exc)
            if not started:
                await send({"type": "http.response.start", "status": 500, "headers": headers})
                await send({"type": "http.response.body", "body": body})


def unexpected_error(scope: Scope, exc: Exception) -> tuple[RawHeaders, bytes]:
    """An exception no handler expected: logged with a new error id, and answered with
    a generic 500 that leaks nothing of it."""
    error_id = new_error_id()
    log_unexpected(
        error_id, exc, "unexpected error on %s %s", scope.get("method"), scope.get("path")
    )
    return render_error(InternalError(), error_id, shape=body_shape(route_path(scope)))


@lru_cache(maxsize=1024)  # most messages are fixed texts, rendered again and again
def header_value(message: str) -> str:
    """A message as a header value: Latin-1 without control characters, which a message
    quoting the client's input may hold and which no HTTP server would send."""
    latin1 = message.encode("latin-1", "replace").decode("latin-1")
    return _CONTROL_CHARACTERS.sub(" ", latin1)
