"""The one rendering of errors in GraphQL responses: `extensions = {code, status, errorId}`.

An `AppError` keeps its code, status, message and `param`, as REST renders them; its
`param`, the domain's name of the input at fault, is spelled here once as this schema
spells arguments and input fields: camelCase (`graphql_param`). A document that does not
parse or validate is the client's fault and keeps its message. Anything else is logged
with its error id and shown only as an internal error.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from app.core.clock import iso_z
from app.core.errors import AppError, InternalError, MethodNotAllowed, new_error_id
from app.core.params import camel_case, spell_param
from app.http.error_log import log_error, log_unexpected

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"


class ErrorExtension(SchemaExtension):
    """Renders the errors of an operation's result, and of each result of a subscription
    as it is sent."""

    def on_operation(self) -> Iterator[None]:
        yield
        _render(self.execution_context.result)

    def on_stream_result(self, result: object) -> Iterator[None]:
        _render(result)
        yield


def _render(result: object) -> None:
    errors: list[GraphQLError] | None = getattr(result, "errors", None)
    if result is not None and errors:
        # New errors, never edited in place: the validation cache shares its errors
        # between requests.
        result.errors = [  # type: ignore[attr-defined]
            error if is_rendered(error) else render_error(error) for error in errors
        ]


# What an operation of a type its transport does not run is told.
WRONG_TRANSPORT = {
    OperationType.SUBSCRIPTION: "Subscriptions run over a WebSocket on this endpoint "
    "(graphql-transport-ws).",
    OperationType.QUERY: "A WebSocket runs subscriptions only: send queries over HTTP.",
    OperationType.MUTATION: "A WebSocket runs subscriptions only: send mutations over HTTP.",
}


def render_error(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, AppError):
        return _app_error(error, original)
    if isinstance(original, InvalidOperationTypeError):
        message = WRONG_TRANSPORT[original.operation_type]
        return _app_error(error, MethodNotAllowed(message))
    if isinstance(error, GraphQLSyntaxError):
        return _document_error(error, PARSE_FAILED)
    if _is_document_error(error):
        return _document_error(error, VALIDATION_FAILED)
    return _internal_error(error)


def _document_error(error: GraphQLError, code: str) -> GraphQLError:
    extensions = _extensions(code, 400)
    log_error(code, 400, error.message, extensions["errorId"])
    return _replace(error, error.message, extensions)


def is_rendered(error: GraphQLError) -> bool:
    return bool(error.extensions and "errorId" in error.extensions)


def render_request_error(error: AppError) -> dict[str, Any]:
    """A request refused before any operation ran, as a GraphQL response body."""
    extensions = _app_extensions(error)
    message = error.message_naming(extensions.get("param"))
    return {"errors": [{"message": message, "extensions": extensions}]}


def _is_document_error(error: GraphQLError) -> bool:
    """Validation and variable coercion: raised before any resolver ran (no path)."""
    original = error.original_error
    return error.path is None and (
        original is None or isinstance(original, GraphQLError | ValueError | TypeError)
    )


def _app_error(error: GraphQLError, app_error: AppError) -> GraphQLError:
    extensions = _app_extensions(app_error)
    return _replace(error, app_error.message_naming(extensions.get("param")), extensions)


def _app_extensions(error: AppError) -> dict[str, Any]:
    extensions = _extensions(error.code, error.status)
    if error.param is not None:
        extensions["param"] = graphql_param(error)
    extensions.update(_details(error.details))
    log_error(error.code, error.status, error.message_naming(None), extensions["errorId"])
    return extensions


def _details(details: dict[str, Any]) -> dict[str, Any]:
    """An error's data as this schema shows it: `resetAt` an ISO 8601 instant like the
    `DateTime` of a decision, null when there is no window (a quota's 0)."""
    if "resetAt" not in details:
        return details
    seconds = details["resetAt"]
    reset_at = datetime.fromtimestamp(seconds, UTC) if seconds else None
    return {**details, "resetAt": iso_z(reset_at)}


def graphql_param(error: AppError) -> str | None:
    """The input at fault as this schema spells it: each of the domain's field names
    camelCase (`new_owner_user_id` is `newOwnerUserId`); indices, and the keys a client
    chose, as they are."""
    if error.param is None:
        return None
    return spell_param(error.param, error.within, camel_case)


def _internal_error(error: GraphQLError) -> GraphQLError:
    internal = InternalError()
    extensions = _extensions(internal.code, internal.status)
    where = ".".join(map(str, error.path or ())) or "the operation"
    log_unexpected(
        extensions["errorId"],
        error.original_error or error,
        "unexpected error in GraphQL %s",
        where,
    )
    return _replace(error, internal.message, extensions)


def _extensions(code: str, status: int) -> dict[str, Any]:
    return {"code": code, "status": status, "errorId": new_error_id()}


def _replace(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )
