"""A span per GraphQL operation, named for its type and name (`query Viewer`), as
OpenTelemetry's GraphQL conventions name it. Loaded only when traces are on.

Strawberry's own `OpenTelemetryExtension` names every operation "GraphQL Query" whatever
its type, records the whole document, and adds a span per resolver call (hundreds for a
page of a list); this one is the operation, current while it runs: the database
statements of its resolvers are its children, and the errors it answers are told to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from opentelemetry.trace import Span, SpanKind, Tracer
from strawberry.extensions import SchemaExtension

OPERATION_NAME = "graphql.operation.name"
OPERATION_TYPE = "graphql.operation.type"


class OperationSpan(SchemaExtension):
    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer

    def on_operation(self) -> Iterator[None]:
        # Its status is left to the errors it answers: a refused request is no failure of
        # the service's own.
        with self._tracer.start_as_current_span(
            "GraphQL Operation",
            kind=SpanKind.INTERNAL,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield
            finally:
                self._describe(span)

    def _describe(self, span: Span) -> None:
        """Known once the document is parsed: the name is the one the request gave, or
        the operation's own."""
        context = self.execution_context
        name = context.operation_name
        kind: str | None = None
        if context.graphql_document is not None:
            try:
                kind = context.operation_type.value
            except RuntimeError:  # no such operation in the document
                kind = None
        if name:
            span.set_attribute(OPERATION_NAME, name)
        if kind:
            span.set_attribute(OPERATION_TYPE, kind)
            span.update_name(f"{kind} {name}" if name else kind)


def operation_spans(tracer: Callable[[], Tracer]) -> Callable[[], SchemaExtension]:
    """The extension's factory, for a schema built before the tracer exists (the tracer
    provider is made when the process starts serving)."""
    return lambda: OperationSpan(tracer())
