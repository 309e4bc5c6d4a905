"""The schema: `schema` for export, `build_schema(settings)` for a running service.

The limits (depth, aliases, tokens, cost) are settings and settings belong to a container, so
each app builds its own schema; the module-level `schema` uses the settings' defaults and
is what `schema.graphql` is exported from. The limits never change the SDL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxTokensLimiter, ParserCache, SchemaExtension, ValidationCache
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES, StreamResult
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from app.core import metrics
from app.graphql.errors import ErrorExtension
from app.graphql.limits import DocumentLimiter, Limits
from app.graphql.mutations import Mutation
from app.graphql.queries import Query
from app.graphql.scalars import DateTime
from app.graphql.subscriptions import Subscription
from app.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer


class BillingSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Strawberry would log every error, the client's included; `ErrorExtension` logs
        the ones that deserve it, with the error id the client sees."""

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """One result: never a subscription's, which runs over a WebSocket (`stream`)."""
        allowed = set(allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES)
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed - {OperationType.SUBSCRIPTION},
            operation_extensions,
        )

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> StreamResult:
        """A WebSocket runs subscriptions only: queries and mutations go over HTTP, where
        each is a request the service's own rate limit counts."""
        if allowed_operation_types is None and getattr(context_value, "over_websocket", False):
            allowed_operation_types = (OperationType.SUBSCRIPTION,)
        return await super().stream(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            operation_extensions,
            allowed_operation_types,
        )


class _ParserCache(ParserCache):
    """A document that fails to parse is left to Strawberry's own parse: raised from this
    hook, the error would skip the operation's extensions and so escape `ErrorExtension`."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield


class OperationMetrics(SchemaExtension):
    """Counts each operation by name and type, and the codes of its errors as the client
    sees them: listed first, it reads the result after `ErrorExtension` rendered it."""

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context
        try:
            kind = context.operation_type.value
        except RuntimeError:  # no operation to run: the document failed before it
            kind = "unknown"
        errors = getattr(context.result, "errors", None) or []
        codes = [(error.extensions or {}).get("code", "INTERNAL_ERROR") for error in errors]
        metrics.graphql_operation(context.operation_name, kind, codes)


def build_schema(
    settings: Settings | None = None, *, tracer: Callable[[], Tracer] | None = None
) -> BillingSchema:
    """`tracer`: with traces on, each operation is a span (the tracer exists once the
    service starts serving)."""
    settings = settings or Settings.model_construct()
    limits = Limits(
        max_depth=settings.graphql_max_depth,
        max_aliases=settings.graphql_max_aliases,
        max_cost=settings.graphql_max_cost,
    )
    max_tokens = settings.graphql_max_tokens
    extensions: list[type[SchemaExtension] | Any] = [
        OperationMetrics,
        ErrorExtension,
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        _ParserCache,
        lambda: DocumentLimiter(limits),
        ValidationCache,
    ]
    if tracer is not None:
        from app.graphql.tracing import operation_spans

        # First, so that it is entered before the others and left after them: the errors
        # that `ErrorExtension` answers are answered within the operation's span.
        extensions.insert(0, operation_spans(tracer))
    return BillingSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        scalar_overrides={datetime: DateTime},
    )


schema = build_schema()
