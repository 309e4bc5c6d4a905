"""Traces with OpenTelemetry, from the optional `otel` extra: imported only when traces
are on (`app.ops.tracing`).

Spans: each HTTP request (a server span named for its route template, never the path
with its ids), each GraphQL operation (`app.graphql.tracing`), each database statement of
a request, each call to Stripe. An error the service answers puts its error id and code
on the span current where it is answered.

The tracer provider, its exporter and the exporter's thread are made when the process
starts serving (`start`, from the lifespan): under `--workers N`, in each worker; nothing
is made at import or when the app is built. `stop` flushes what is left.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.instrumentation.sqlalchemy.version import __version__ as sqlalchemy_version
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.http import get_excluded_urls, sanitize_method
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app.http.error_log import observe_errors
from app.http.paths import route_path
from app.settings import Settings

ERROR_ID = "billing.error.id"
ERROR_CODE = "billing.error.code"
STATEMENTS_SCOPE = "opentelemetry.instrumentation.sqlalchemy"
_NO_METER = NoOpMeterProvider().get_meter(__name__)


class Tracing:
    def __init__(self, settings: Settings, exporter: SpanExporter | None = None) -> None:
        self._service_name = settings.otel_service_name
        self._exporter = exporter
        self._provider: TracerProvider | None = None
        self._tracer: Tracer | None = None
        self._stop_observing: Callable[[], None] | None = None

    def start(self, engine: AsyncEngine) -> None:
        """Once per process, when it starts serving: after any fork."""
        provider = TracerProvider(
            resource=Resource.create({SERVICE_NAME: self._service_name}), shutdown_on_exit=False
        )
        # Spans given to an exporter of the caller's go at once (tests read them back).
        processor = (
            SimpleSpanProcessor(self._exporter)
            if self._exporter is not None
            else BatchSpanProcessor(OTLPSpanExporter())
        )
        provider.add_span_processor(_WithinTraces(processor))
        self._provider = provider
        self._tracer = provider.get_tracer("billing")
        # The instrumentation's tracer of one engine: its instrumentor would patch every
        # engine the process creates, once per process, with the first provider it is given.
        EngineTracer(  # type: ignore[no-untyped-call]
            provider.get_tracer(STATEMENTS_SCOPE, sqlalchemy_version),
            engine.sync_engine,
            _NO_METER.create_up_down_counter("db.client.connections.usage"),
        )
        self._stop_observing = observe_errors(_on_error)

    def stop(self) -> None:
        """Flushes the spans not exported yet."""
        if self._stop_observing is not None:
            self._stop_observing()
        if self._provider is not None:
            self._provider.shutdown()

    @property
    def provider(self) -> TracerProvider:
        assert self._provider is not None, "traces start with the app's lifespan"
        return self._provider

    @property
    def tracer(self) -> Tracer:
        """The service's own spans: GraphQL operations, Stripe calls."""
        assert self._tracer is not None, "traces start with the app's lifespan"
        return self._tracer

    def http_middleware(self, routes: Sequence[BaseRoute]) -> Middleware:
        return Middleware(HttpSpans, tracing=self, routes=routes)

    @contextmanager
    def stripe_call(self, operation: str) -> Iterator[trace.Span]:
        """A client span around one call to Stripe; what escapes it is its failure."""
        with self.tracer.start_as_current_span(
            f"stripe {operation}",
            kind=SpanKind.CLIENT,
            attributes={"peer.service": "stripe", "billing.stripe.operation": operation},
        ) as span:
            try:
                yield span
            except Exception as exc:
                span.set_attribute("error.type", type(exc).__qualname__)
                status = getattr(exc, "http_status", None)
                if isinstance(status, int):
                    span.set_attribute("http.response.status_code", status)
                raise


class HttpSpans:
    """Pure ASGI, the outermost layer: OpenTelemetry's ASGI middleware, made on the first
    request, once the lifespan has made the tracer provider."""

    def __init__(self, app: ASGIApp, tracing: Tracing, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self._tracing = tracing
        self._names = RouteNames(routes)
        self._traced: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._traced is None:
            self._traced = OpenTelemetryMiddleware(
                self.app,
                excluded_urls=get_excluded_urls("ASGI"),  # OTEL_PYTHON_EXCLUDED_URLS
                default_span_details=self._names.span_details,
                tracer_provider=self._tracing.provider,
                meter_provider=NoOpMeterProvider(),
                exclude_spans=["receive", "send"],
            )
        await self._traced(scope, receive, send)


class RouteNames:
    """A request's span is named for the route it goes to, as the routes declare it
    (`GET /api/billing/v1/admin/customer/{customerId}`): one name per route, whatever the
    ids in the path. A path no route serves is named by its method alone."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        templates = [route for route in routes if isinstance(route, Route)]
        self._fixed = {route.path: route.path for route in templates if not route.param_convertors}
        self._parameterised = [route for route in templates if route.param_convertors]

    def span_details(self, scope: Scope) -> tuple[str, dict[str, str]]:
        method = sanitize_method(scope.get("method", "").strip())
        method = "HTTP" if method == "_OTHER" else method
        route = self._fixed.get(route_path(scope)) or self._match(scope)
        if route is None:
            return method, {}
        return f"{method} {route}", {"http.route": route}

    def _match(self, scope: Scope) -> str | None:
        partial = None
        for route in self._parameterised:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route.path
            if match is Match.PARTIAL and partial is None:
                partial = route.path
        return partial


def _on_error(code: str, status: int, error_id: str, exc: BaseException | None) -> None:
    """The error the service answers, on the span where it is answered: the request's, or
    the GraphQL operation's. Each is also an event, for an operation that answers several."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    attributes = {ERROR_ID: error_id, ERROR_CODE: code}
    span.set_attributes(attributes)
    span.add_event("billing.error", {**attributes, "billing.error.status": status})
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR, code))
        if exc is not None:
            span.record_exception(exc)


class _WithinTraces(SpanProcessor):
    """Statements outside any request or Stripe call (the cache-invalidation poll runs
    four times a second, the ledger writes in the background) are not traces of their own."""

    def __init__(self, processor: SpanProcessor) -> None:
        self._processor = processor

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self._processor.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        scope = span.instrumentation_scope
        if span.parent is None and scope is not None and scope.name == STATEMENTS_SCOPE:
            return
        self._processor.on_end(span)

    def shutdown(self) -> None:
        self._processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._processor.force_flush(timeout_millis)
