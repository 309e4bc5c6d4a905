"""Prometheus metrics: what the service does, per route, operation, decision and call.

Metrics are module-level, as `prometheus_client` intends. Under `billing serve --workers N`
each worker writes its values to files in `PROMETHEUS_MULTIPROC_DIR` (the CLI sets it
before the workers start, so that `prometheus_client` picks its file-backed values when
first imported), and whichever worker answers `/metrics` sums them all. Gauges say how
they combine across workers: a buffer's rows add up, a lag is the worst of them.

Requests and decisions are tallied in plain integers and added to the metrics every
second and before each scrape (`flush`): the hot path pays a dictionary increment, not a
lock and a shared-memory write. A scrape of one worker reads the others' figures at most
a second behind.
"""

from __future__ import annotations

import asyncio
import os
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

# A `_created` series beside every counter doubles the page for a value no alert uses.
disable_created_metrics()  # type: ignore[no-untyped-call]

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
# Latencies of a service on other services' hot paths: sub-millisecond to seconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

HTTP_REQUESTS = Counter(
    "billing_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "billing_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
GRAPHQL_OPERATIONS = Counter(
    "billing_graphql_operations",
    "GraphQL operations executed, by operation name and type.",
    ["operation", "type"],
)
GRAPHQL_ERRORS = Counter(
    "billing_graphql_errors",
    "Errors in GraphQL results, by operation name and error code.",
    ["operation", "code"],
)
DECISIONS = Counter(
    "billing_limit_decisions",
    "Limit and quota decisions, by service, feature and outcome.",
    ["service", "feature", "outcome"],
)
BATCH_SIZE = Histogram(
    "billing_consume_batch_size", "Requests per consume batch.", buckets=BATCH_BUCKETS
)
IDEMPOTENT_REPLAYS = Counter(
    "billing_idempotent_replays",
    "Requests answered with the kept answer of an earlier one with the same idempotency key.",
)
LEDGER_ROWS = Gauge(
    "billing_ledger_buffered_rows",
    "Usage events decided and not yet written to the database.",
    multiprocess_mode="livesum",
)
LEDGER_LAG = Gauge(
    "billing_ledger_lag_seconds",
    "Age of the oldest usage event not yet written.",
    multiprocess_mode="livemax",
)
LEDGER_FLUSH = Histogram(
    "billing_ledger_flush_duration_seconds",
    "Time to write a batch of usage events.",
    buckets=LATENCY_BUCKETS,
)
COUNTER_STORAGE_ERRORS = Counter(
    "billing_counter_storage_errors",
    "Calls to the counter storage (memory or Redis) that failed.",
)
COUNTER_RESEEDS = Counter(
    "billing_counter_reseeds",
    "Rebuilds of lost counters from the usage ledger.",
)
SELF_LIMIT_REFUSALS = Counter(
    "billing_self_limit_refusals",
    "Requests refused by the service's own rate limit, by kind of caller (ip, user, service).",
    ["caller"],
)
AUTH_FAILURES = Counter(
    "billing_auth_failures",
    "Requests whose credentials failed, by reason (the error code).",
    ["reason"],
)
WEBHOOK_EVENTS = Counter(
    "billing_stripe_webhook_events",
    "Stripe webhook events received, by event type and outcome.",
    ["type", "outcome"],
)
STRIPE_CALLS = Histogram(
    "billing_stripe_call_duration_seconds",
    "Time of calls to Stripe's API, by operation.",
    ["operation"],
    buckets=LATENCY_BUCKETS,
)
STRIPE_ERRORS = Counter(
    "billing_stripe_call_errors",
    "Calls to Stripe's API that failed, by operation and error.",
    ["operation", "error"],
)
DB_POOL_IN_USE = Gauge(
    "billing_db_pool_connections_in_use",
    "Database connections checked out of the pool.",
    multiprocess_mode="livesum",
)
DB_POOL_WAIT = Histogram(
    "billing_db_pool_wait_seconds",
    "Time a transaction waited for a database connection.",
    buckets=LATENCY_BUCKETS,
)

# A decision's outcomes.
ALLOWED = "allowed"
RATE_LIMITED = "rate_limited"
DISABLED = "disabled"
QUOTA_EXCEEDED = "quota_exceeded"

# How often the tallies of the request path reach the metrics (and other workers' scrapes).
FLUSH_SECONDS = 1.0

_recording = True
# Tallied on the request path in plain integers, added to the metrics by `flush`: a lock
# and a shared-memory write per request and decision would cost the hot path several
# microseconds.
_answered: dict[tuple[str, str, int], int] = {}
_decided: dict[tuple[str, str, str], int] = {}
_timed: dict[tuple[str, str], _Timing] = {}


def record(on: bool) -> None:
    """Whether the request path records (`BILLING_METRICS`); the bench measures it off."""
    global _recording
    _recording = on


def decided(service: str, feature: str, outcome: str) -> None:
    """One decision: `allowed`, `rate_limited`, `disabled` or `quota_exceeded`."""
    if _recording:
        key = (service, feature, outcome)
        _decided[key] = _decided.get(key, 0) + 1


# Operation names are the client's choice: past this many, new ones count as `other`, so a
# client cannot make the service keep unbounded series.
MAX_OPERATION_NAMES = 500
_operation_names: set[str] = set()


def graphql_operation(name: str | None, kind: str, error_codes: Iterable[str]) -> None:
    """One GraphQL operation, and the codes of the errors in its result."""
    if not _recording:
        return
    label = name or "anonymous"
    if label not in _operation_names:
        if len(_operation_names) >= MAX_OPERATION_NAMES:
            label = "other"
        else:
            _operation_names.add(label)
    GRAPHQL_OPERATIONS.labels(label, kind).inc()
    for code in error_codes:
        GRAPHQL_ERRORS.labels(label, code).inc()


def answered(route: str, method: str, status: int, seconds: float) -> None:
    """One HTTP request: its route template (never the raw path), method and status."""
    if not _recording:
        return
    key = (route, method, status)
    _answered[key] = _answered.get(key, 0) + 1
    timing = _timed.get((route, method))
    if timing is None:
        timing = _timed[(route, method)] = _Timing()
    timing.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
    timing.seconds += seconds


class _Timing:
    """A latency histogram's observations since the last flush: a count per bucket (the
    last is +Inf), and their sum."""

    __slots__ = ("counts", "seconds")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.seconds = 0.0


def flush() -> None:
    """What the request path tallied, into the Prometheus metrics (and so, under several
    workers, into this worker's files). Run every `FLUSH_SECONDS` and before a scrape."""
    global _answered, _decided, _timed
    answered, decided, timed = _answered, _decided, _timed
    _answered, _decided, _timed = {}, {}, {}
    for request, count in answered.items():
        HTTP_REQUESTS.labels(*request).inc(count)
    for decision, count in decided.items():
        DECISIONS.labels(*decision).inc(count)
    for route, timing in timed.items():
        histogram = HTTP_DURATION.labels(*route)
        # prometheus_client keeps a count per bucket and sums them when collected, as
        # `observe` does one observation at a time.
        for bucket, count in zip(histogram._buckets, timing.counts, strict=True):
            if count:
                bucket.inc(count)
        histogram._sum.inc(timing.seconds)


async def flush_periodically() -> None:
    """Until cancelled; the figures a scrape of another worker reads are this far behind."""
    try:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            flush()
    finally:
        flush()


@dataclass(frozen=True, slots=True)
class Reading:
    """A gauge read from shared state when scraped (the database), the same whichever
    worker answers: its name, help and value."""

    name: str
    documentation: str
    value: float


class _Readings(Collector):
    def __init__(self, readings: Iterable[Reading]) -> None:
        self._readings = list(readings)

    def collect(self) -> Iterable[Metric]:
        for reading in self._readings:
            yield GaugeMetricFamily(reading.name, reading.documentation, value=reading.value)


def exposition(readings: Iterable[Reading] = ()) -> bytes:
    """Every metric in Prometheus's text format: all workers' under several workers."""
    flush()
    registry: CollectorRegistry = REGISTRY
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    output = generate_latest(registry)
    extra = CollectorRegistry()
    extra.register(_Readings(readings))
    return output + generate_latest(extra)


def worker_stopped() -> None:
    """A worker's live gauges stop counting once it is gone."""
    if os.environ.get(MULTIPROCESS_DIR):
        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
