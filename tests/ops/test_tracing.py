"""Traces (OpenTelemetry): a span per HTTP request, GraphQL operation, database statement and
Stripe call, read back from the SDK's in-memory exporter; none, and nothing of OpenTelemetry
loaded, with traces off."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from app.main import create_app
from app.ops.tracing import TracingUnavailable
from tests.rest.test_errors import assert_error
from tests.support.api import BASE, Api, running_api, settings_for
from tests.support.clock import MovableClock
from tests.support.fake_stripe import FakeStripe
from tests.support.metering import metered_customer
from tests.support.stripe import stripe_settings, synced_customer

ROOT = Path(__file__).resolve().parents[2]
ERROR_ID = "billing.error.id"
ERROR_CODE = "billing.error.code"


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def traced(
    database_url: str, tmp_path: Path, clock: MovableClock, spans: InMemorySpanExporter
) -> AsyncIterator[Api]:
    settings = settings_for(database_url, tmp_path, otel=True)
    async with running_api(settings, clock, span_exporter=spans) as api:
        yield api


def finished(spans: InMemorySpanExporter) -> tuple[ReadableSpan, ...]:
    return spans.get_finished_spans()


def server_span(spans: InMemorySpanExporter) -> ReadableSpan:
    """The one request's span since the exporter was last cleared."""
    [span] = [span for span in finished(spans) if span.kind is SpanKind.SERVER]
    return span


def children(spans: InMemorySpanExporter, parent: ReadableSpan) -> list[ReadableSpan]:
    return [
        span
        for span in finished(spans)
        if span.parent is not None and span.parent.span_id == parent.context.span_id
    ]


def http_status(span: ReadableSpan) -> Any:
    """As the ASGI instrumentation records it, in the older or the stable conventions."""
    attributes = span.attributes or {}
    return attributes.get("http.response.status_code", attributes.get("http.status_code"))


def statements(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [span for span in spans if (span.attributes or {}).get("db.system")]


class TestHttp:
    async def test_a_request_is_a_server_span_named_for_its_route(
        self, traced: Api, spans: InMemorySpanExporter
    ) -> None:
        customer = await traced.customer(traced.user())
        spans.clear()
        response = await traced.call("GET", f"/admin/customer/{customer['id']}", traced.admin())
        assert response.status_code == 200
        span = server_span(spans)
        template = f"{BASE}/admin/customer/{{customerID}}"
        assert (span.name, span.attributes["http.route"]) == (f"GET {template}", template)  # type: ignore[index]
        assert http_status(span) == 200
        assert span.status.status_code is StatusCode.UNSET
        assert statements(children(spans, span))

    async def test_the_hot_paths_served_ahead_of_the_router_too(
        self, traced: Api, spans: InMemorySpanExporter
    ) -> None:
        meter = await metered_customer(traced, "free")
        spans.clear()
        assert (await meter.consume("ai-api/chat_completions_per_minute")).status_code == 200
        span = server_span(spans)
        assert span.name == f"POST {BASE}/limits/consume"
        assert http_status(span) == 200

    async def test_a_path_no_route_serves_is_named_by_its_method(
        self, traced: Api, spans: InMemorySpanExporter
    ) -> None:
        response = await traced.call("GET", "/no/such/path/12345")
        assert_error(response, 404, "ROUTE_NOT_FOUND")
        assert server_span(spans).name == "GET"

    async def test_statements_outside_any_request_are_no_traces(
        self, traced: Api, spans: InMemorySpanExporter
    ) -> None:
        """The cache-invalidation poll runs four times a second."""
        await traced.customer(traced.user())
        spans.clear()
        await traced.container.invalidator.poll()
        await traced.container.ledger.flush()
        assert finished(spans) == ()


class TestErrors:
    async def test_a_refused_request_carries_the_id_and_code_it_answered(
        self, traced: Api, spans: InMemorySpanExporter
    ) -> None:
        response = await traced.call("GET", "/customer", traced.user())
        error = assert_error(response, 404, "NO_CUSTOMER")
        span = server_span(spans)
        assert span.attributes[ERROR_ID] == response.headers["x-error-id"] == error["error_id"]  # type: ignore[index]
        assert span.attributes[ERROR_CODE] == "NO_CUSTOMER"  # type: ignore[index]
        assert http_status(span) == 404
        assert span.status.status_code is StatusCode.UNSET  # the client's mistake

    async def test_a_graphql_error_is_on_its_operation(
        self, traced: Api, spans: InMemorySpanExporter
    ) -> None:
        body = await traced.graphql(
            "query Other($id: ID!) { adminCustomer(customerId: $id) { name } }",
            traced.user(),
            id="00000000-0000-0000-0000-000000000000",
        )
        [error] = body["errors"]
        [operation] = [s for s in children(spans, server_span(spans)) if not statements([s])]
        assert operation.name == "query Other"
        assert operation.attributes[ERROR_ID] == error["extensions"]["errorId"]  # type: ignore[index]
        assert operation.attributes[ERROR_CODE] == error["extensions"]["code"]  # type: ignore[index]


class TestGraphQL:
    async def test_an_operation_is_a_span_within_the_request_over_its_statements(
        self, traced: Api, spans: InMemorySpanExporter
    ) -> None:
        owner = traced.user()
        await traced.customer(owner)
        spans.clear()
        body = await traced.graphql("query Mine { viewer { role customer { name } } }", owner)
        assert body["data"]["viewer"]["customer"]["name"] == "Acme"
        request = server_span(spans)
        assert request.name == "POST /graphql"
        [operation] = [span for span in children(spans, request) if not statements([span])]
        assert operation.name == "query Mine"
        assert operation.attributes == {  # no document: it may quote the caller's input
            "graphql.operation.name": "Mine",
            "graphql.operation.type": "query",
        }
        beneath = children(spans, operation)
        assert beneath and statements(beneath) == beneath
        assert {span.context.trace_id for span in finished(spans)} == {request.context.trace_id}

    async def test_a_mutation_is_named_for_its_type(
        self, traced: Api, spans: InMemorySpanExporter
    ) -> None:
        body = await traced.graphql(
            'mutation { createApiKey(name: "ci") { apiKey { name } } }', traced.user()
        )
        assert "errors" not in body
        [operation] = [s for s in finished(spans) if s.name.startswith("mutation")]
        assert (operation.name, operation.attributes) == (
            "mutation",
            {"graphql.operation.type": "mutation"},
        )
        assert [s.name.split()[0] for s in statements(children(spans, operation))].count("INSERT")


class TestStripe:
    @pytest.fixture
    async def traced_stripe(
        self,
        database_url: str,
        tmp_path: Path,
        fake_stripe: FakeStripe,
        spans: InMemorySpanExporter,
    ) -> AsyncIterator[Api]:
        settings = stripe_settings(database_url, tmp_path, fake_stripe, otel=True)
        async with running_api(settings, span_exporter=spans) as api:
            yield api

    async def test_a_call_is_a_client_span_within_its_request(
        self, traced_stripe: Api, spans: InMemorySpanExporter
    ) -> None:
        customer = await synced_customer(traced_stripe)
        spans.clear()
        response = await traced_stripe.call("GET", "/stripe/customer", customer.owner)
        assert response.status_code == 200
        request = server_span(spans)
        [call] = [span for span in children(spans, request) if span.name.startswith("stripe")]
        assert call.name == "stripe billing_portal.sessions.create"
        assert (call.kind, call.status.status_code) == (SpanKind.CLIENT, StatusCode.UNSET)

    async def test_a_failed_call_is_an_error_and_so_is_its_request(
        self, traced_stripe: Api, spans: InMemorySpanExporter, fake_stripe: FakeStripe
    ) -> None:
        customer = await synced_customer(traced_stripe)
        traced_stripe.expect_server_errors = True
        fake_stripe.fail_next("POST", "/v1/billing_portal", status=500)
        spans.clear()
        response = await traced_stripe.call("GET", "/stripe/customer", customer.owner)
        assert_error(response, 502, "STRIPE_UNAVAILABLE")
        request = server_span(spans)
        [call] = [s for s in finished(spans) if s.name == "stripe billing_portal.sessions.create"]
        assert call.parent is not None and call.parent.span_id == request.context.span_id
        assert call.status.status_code is StatusCode.ERROR
        assert call.attributes["http.response.status_code"] == 500  # type: ignore[index]
        assert request.status.status_code is StatusCode.ERROR
        assert request.attributes[ERROR_ID] == response.headers["x-error-id"]  # type: ignore[index]
        assert request.attributes[ERROR_CODE] == "STRIPE_UNAVAILABLE"  # type: ignore[index]


class TestOff:
    async def test_no_span_is_made(
        self,
        database_url: str,
        tmp_path: Path,
        clock: MovableClock,
        spans: InMemorySpanExporter,
    ) -> None:
        settings = settings_for(database_url, tmp_path, otel=False)
        async with running_api(settings, clock, span_exporter=spans) as api:
            assert api.container.tracing is None
            await api.customer(api.user())
            await api.graphql("{ plans { name } }")
        assert finished(spans) == ()

    def test_nothing_of_opentelemetry_is_loaded(self, sqlite_database_url: str) -> None:
        """In a process of its own: the app serves a REST and a GraphQL request and has not
        imported a module of OpenTelemetry. redis-py (8) imports OpenTelemetry's metrics SDK
        whenever it is installed, for metrics of its own that stay off unless initialised:
        the app adds nothing to what redis-py loaded."""
        script = f"""
import asyncio, sys
import redis.asyncio

def loaded() -> set[str]:
    return {{name for name in sys.modules if name.split(".")[0] == "opentelemetry"}}

by_redis = loaded()
import httpx
from asgi_lifespan import LifespanManager
from app.main import create_app
from tests.support.api import settings_for

async def serve() -> None:
    app = create_app(settings_for({sqlite_database_url!r}, sys.argv[1]))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("{BASE}/tiers")).status_code == 401
            query = {{"query": "{{ plans {{ name }} }}"}}
            assert (await client.post("/graphql", json=query)).status_code == 200

asyncio.run(serve())
assert loaded() == by_redis, sorted(loaded() - by_redis)
assert not {{"opentelemetry.sdk.trace", "app.ops.otel", "app.graphql.tracing"}} & set(sys.modules)
"""
        env = {"PATH": "/usr/bin:/bin", "BILLING_OTEL": "", "OTEL_EXPORTER_OTLP_ENDPOINT": ""}
        done = subprocess.run(
            [sys.executable, "-c", script, str(Path(sqlite_database_url).parent)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr


class TestWithoutTheExtra:
    def test_on_it_refuses_to_start_naming_the_fix(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delitem(sys.modules, "app.ops.otel", raising=False)
        for name in [name for name in sys.modules if name.split(".")[0] == "opentelemetry"]:
            monkeypatch.setitem(sys.modules, name, None)  # as if not installed
        settings = settings_for("sqlite+aiosqlite://", tmp_path, otel=True)
        with pytest.raises(TracingUnavailable, match=r"pip install 'billing-api\[otel\]'"):
            create_app(settings)


class TestExport:
    """To the OTLP endpoint (HTTP, protobuf), through the SDK's batch processor."""

    @pytest.fixture
    def collector(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
        """A stand-in OpenTelemetry collector on loopback: what it was sent."""
        received: list[bytes] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(self.rfile.read(int(self.headers["content-length"])))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        try:
            yield received
        finally:
            server.shutdown()
            server.server_close()

    async def test_each_process_exports_from_its_start_and_flushes_at_its_stop(
        self, sqlite_database_url: str, tmp_path: Path, collector: list[bytes]
    ) -> None:
        settings = settings_for(sqlite_database_url, tmp_path)
        assert settings.tracing  # from the environment's endpoint alone
        app = create_app(settings)
        assert not exporting_threads()  # nothing made before the process serves
        async with LifespanManager(app) as manager:
            assert exporting_threads()
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                assert (await client.get(f"{BASE}/tiers")).status_code == 401
            assert collector == []  # batched: not sent yet
        assert not exporting_threads()
        exported = [
            (resource.resource, span.name)
            for request in map(ExportTraceServiceRequest.FromString, collector)
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]
        [resource] = [resource for resource, name in exported if name == f"GET {BASE}/tiers"]
        attributes = {a.key: a.value.string_value for a in resource.attributes}
        assert attributes["service.name"] == "billing"


def exporting_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("OtelBatch")]
