"""The benchmark: every target measured in one run, the table, and `bench-results.json`.

| target       | what is loaded                                                              |
|--------------|-----------------------------------------------------------------------------|
| consume      | `POST /limits/consume`, a billing_service caller, unlimited tier            |
| bare         | a bare Starlette endpoint: same JSON request parsed, same answer shape      |
| slowapi      | the bare endpoint behind slowapi's decorator (`slowapi_asgi`, `slowapi_http`: |
|              | behind its ASGI and its BaseHTTPMiddleware middleware, for information)     |
| batch        | `POST /limits/consume/batch` of 100 consumes: decisions per second          |
| limited      | consumes of a limited feature, all allowed (the answers carry RateLimit)    |
| refused      | consumes of the same feature by a caller over its limit: every answer a 429 |
| storm        | a caller sending 10x its limit (`storm`) beside a normal caller             |
|              | (`storm_normal`), half the connections each                                 |
| usage        | the GraphQL usage query (30 features) as the customer's owner               |
| static       | the same query against a Strawberry schema with a static resolver           |
| workers      | `billing serve --workers 2` on one Redis, a caller over its limit: the      |
|              | consumes allowed beyond the limit are counted                               |

consume and bare, the headline, are measured in alternating rounds and each reported by
its median round, so that a passing disturbance of the machine moves neither alone.
Every service target runs on one uvicorn worker pinned to one core, the load generator
on another; `workers` shares its core between its two workers and Redis.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench.baselines import CONSUME_PATH, GRAPHQL_PATH
from bench.goals import CHECKS, RATIOS
from bench.load import LoadResult, Request, run_load, wrk_available
from bench.profile import profile
from bench.servers import Served, Unavailable, cores, redis_server, serving, serving_workers
from bench.service import (
    BATCH_SIZE,
    FEATURE,
    LIMITED,
    Callers,
    allowed_in_ledger,
    graphql_body,
    post,
    service_env,
)

TARGETS = (
    "consume",
    "consume_no_metrics",
    "bare",
    "slowapi",
    "slowapi_asgi",
    "slowapi_http",
    "batch",
    "limited",
    "refused",
    "storm",
    "usage",
    "static",
    "workers",
)
BASELINES = {
    "bare": "bare",
    "slowapi": "slowapi",
    "slowapi_asgi": "slowapi_asgi",
    "slowapi_http": "slowapi_http",
    "static": "static_graphql",
}
SERVICE_TARGETS = {"consume", "batch", "limited", "refused", "storm", "usage"}
STORM_OVER_LIMIT = 10  # the storm's caller sends this many times its limit


@dataclass(frozen=True, slots=True)
class Options:
    duration: float = 10.0
    warmup: float = 2.0
    connections: int = 32
    loader: str = "auto"
    targets: tuple[str, ...] = TARGETS
    out: Path = Path("bench-results.json")
    rounds: int = 3
    profile: bool = True


@dataclass
class Results:
    options: Options
    started_at: float = field(default_factory=time.time)
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)

    def record(self, target: str, result: LoadResult, **extra: Any) -> None:
        self.figures[target] = {**result.as_json(), **extra}

    def ratios(self) -> dict[str, dict[str, Any]]:
        answer: dict[str, dict[str, Any]] = {}
        for name, ratio in RATIOS.items():
            value = ratio.value(self.figures)
            if value is not None:
                answer[name] = {
                    "value": round(value, 3),
                    "target": ratio.least,
                    "met": value >= ratio.least,
                    "by_cpu": ratio.by_cpu(self.figures),
                }
        return answer

    def checks(self) -> dict[str, dict[str, Any]]:
        answer: dict[str, dict[str, Any]] = {}
        for name, check in CHECKS.items():
            value = check.value(self.figures)
            if value is not None:
                answer[name] = {
                    "value": value,
                    "target": check.expected,
                    "met": value == check.expected,
                }
        return answer

    def missed(self) -> list[str]:
        goals = {**self.ratios(), **self.checks()}
        return [name for name, goal in goals.items() if not goal["met"]]

    def as_json(self) -> dict[str, Any]:
        server_cpu, loader_cpu = cores()
        return {
            "started_at": round(self.started_at),
            "machine": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "server_cpu": server_cpu,
                "loader_cpu": loader_cpu,
                "wrk": wrk_available(),
            },
            "options": {
                "duration_s": self.options.duration,
                "warmup_s": self.options.warmup,
                "connections": self.options.connections,
                "loader": self.options.loader,
                "rounds": self.options.rounds,
            },
            "targets": self.figures,
            "skipped": self.skipped,
            "ratios": self.ratios(),
            "checks": self.checks(),
            "notes": self.notes,
        }


@dataclass(frozen=True, slots=True)
class Measured:
    result: LoadResult
    cpu_us_per_request: float | None


class Bench:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.results = Results(options)
        self.server_cpu, self.loader_cpu = cores()
        self.wanted = set(options.targets)

    def run(self) -> Results:
        with ExitStack() as stack:
            service: tuple[Served, Callers] | None = None
            if self.wanted & SERVICE_TARGETS:
                service = self._serve_service(stack)
            self._headline(service)
            for target in (t for t in BASELINES if t != "bare" and t in self.wanted):
                with self._baseline(target) as server:
                    self._measure_once(target, server, self._baseline_request(target, server))
            if service is not None:
                self._service_targets(*service)
                self._profile_misses(*service)
        if "workers" in self.wanted:
            self._workers()
        return self.results

    # Measuring

    def measure(self, server: Served, request: Request, duration: float) -> Measured:
        """Requests per second and latencies seen by the client; and the server's CPU time
        per request, which other work on the machine disturbs less."""
        if self.options.warmup > 0:
            self._load(request, self.options.warmup)
        cpu_before = server.cpu_seconds()
        result = self._load(request, duration)
        cpu = server.cpu_seconds() - cpu_before
        per_request = round(cpu / result.requests * 1e6, 1) if result.requests else None
        return Measured(result, per_request)

    def _measure_once(self, target: str, server: Served, request: Request, **extra: Any) -> None:
        measured = self.measure(server, request, self.options.duration)
        self._record(target, measured, **extra)

    def _record(self, target: str, measured: Measured, **extra: Any) -> None:
        self.results.record(
            target, measured.result, server_cpu_us_per_request=measured.cpu_us_per_request, **extra
        )

    def _load(
        self, request: Request, duration: float, connections: int | None = None
    ) -> LoadResult:
        return run_load(
            request,
            duration=duration,
            connections=connections or self.options.connections,
            loader=self.options.loader,
            cpu=self.loader_cpu,
        )

    # The headline: consume and bare, in alternating rounds

    def _headline(self, service: tuple[Served, Callers] | None) -> None:
        """Consume, consume without metrics and bare, in alternating rounds: what the
        machine's other work takes falls on each alike."""
        rounds: dict[str, list[Measured]] = {"consume": [], "consume_no_metrics": [], "bare": []}
        with ExitStack() as stack:
            plans: list[tuple[str, Served, Request]] = []
            if service is not None and "consume" in self.wanted:
                server, callers = service
                plans.append(("consume", server, callers.consume(callers.customer())))
            if "consume_no_metrics" in self.wanted:
                server, callers = stack.enter_context(self._service_server(metrics=False))
                plans.append(("consume_no_metrics", server, callers.consume(callers.customer())))
            if "bare" in self.wanted:
                bare = stack.enter_context(self._baseline("bare"))
                plans.append(("bare", bare, self._baseline_request("bare", bare)))
            for _ in range(max(1, self.options.rounds)):
                for target, server, request in plans:
                    rounds[target].append(self.measure(server, request, self.options.duration))
        for target, measured in rounds.items():
            if measured:
                median = statistics.median_low(m.result.rps for m in measured)
                chosen = next(m for m in measured if m.result.rps == median)
                self._record(target, chosen, rounds_rps=[m.result.rps for m in measured])

    # The service's own targets

    @contextmanager
    def _service_server(self, *, metrics: bool = True) -> Iterator[tuple[Served, Callers]]:
        with (
            service_env(metrics=metrics) as env,
            serving("app.main:app", env=env, cpu=self.server_cpu, ready_path="/readyz") as server,
        ):
            yield server, Callers.of(server.url)

    def _serve_service(self, stack: ExitStack) -> tuple[Served, Callers]:
        return stack.enter_context(self._service_server())

    def _service_targets(self, server: Served, callers: Callers) -> None:
        if "batch" in self.wanted:
            self._measure_once(
                "batch",
                server,
                callers.batch(callers.customer()),
                decisions_per_request=BATCH_SIZE,
            )
            figures = self.results.figures["batch"]
            figures["decisions_per_s"] = round(figures["rps"] * BATCH_SIZE, 1)
        for target, limit in (("limited", 1_000_000_000), ("refused", 1)):
            if target in self.wanted:
                customer = callers.customer()
                callers.limit(customer, limit)
                self._measure_once(target, server, callers.consume(customer, LIMITED))
        if "storm" in self.wanted:
            self._storm(server, callers)
        if "usage" in self.wanted:
            self._usage(server, callers)

    def _storm(self, server: Served, callers: Callers) -> None:
        """A caller sending `STORM_OVER_LIMIT` times its limit, beside a normal caller, on
        half the connections each: the normal caller's latency is what the storm costs."""
        normal = callers.consume(callers.customer())
        half = max(1, self.options.connections // 2)
        # The storm caller's likely share of the server, measured on an unlimited caller
        # of the same feature beside the normal one, sets its limit.
        sizing = callers.consume(callers.customer(), LIMITED)
        _, share = self._together([(normal, half), (sizing, half)], max(1.0, self.options.warmup))
        storm_customer = callers.customer()
        callers.limit(
            storm_customer, max(1, round(share.rps * self.options.duration / STORM_OVER_LIMIT))
        )
        storm = callers.consume(storm_customer, LIMITED)
        cpu_before = server.cpu_seconds()
        normal_result, storm_result = self._together(
            [(normal, half), (storm, half)], self.options.duration
        )
        cpu = server.cpu_seconds() - cpu_before
        requests = normal_result.requests + storm_result.requests
        per_request = round(cpu / requests * 1e6, 1) if requests else None
        self.results.record("storm_normal", normal_result, server_cpu_us_per_request=per_request)
        allowed = max(1, storm_result.requests - storm_result.non_2xx)
        self.results.record(
            "storm",
            storm_result,
            server_cpu_us_per_request=per_request,
            times_its_limit=round(storm_result.requests / allowed, 1),
        )

    def _together(self, loads: list[tuple[Request, int]], duration: float) -> list[LoadResult]:
        with ThreadPoolExecutor(len(loads)) as pool:
            runs = [pool.submit(self._load, request, duration, n) for request, n in loads]
            return [run.result() for run in runs]

    def _usage(self, server: Served, callers: Callers) -> None:
        callers.customer(owner=callers.owner)
        request = callers.usage()
        probe = httpx.post(request.url, content=request.body, headers=dict(request.headers or {}))
        body = probe.json()
        if probe.status_code != 200 or body.get("errors"):
            self.results.skipped["usage"] = f"the usage query failed: {probe.text[:500]}"
            return
        assert body["data"]["usage"]["totalFeatures"] >= 30, body
        self._measure_once("usage", server, callers.usage())

    def _profile_misses(self, server: Served, callers: Callers) -> None:
        """For each missed goal whose measured side is the service, where its CPU went."""
        if not self.options.profile:
            return

        def over_its_limit() -> Request:
            customer = callers.customer()
            callers.limit(customer, 1)
            return callers.consume(customer, LIMITED)

        sides: dict[str, Callable[[], Request]] = {
            "consume": lambda: callers.consume(callers.customer()),
            "refused": over_its_limit,
            "batch": lambda: callers.batch(callers.customer()),
            "usage": callers.usage,
        }
        for name in self.results.missed():
            ratio = RATIOS.get(name)
            target = ratio.top if ratio else None
            target = "consume" if target == "storm_normal" else target
            if target not in sides:
                continue
            seconds = min(self.options.duration, 10.0)
            load = partial(self._load, sides[target](), seconds)
            self.results.notes[name] = [
                f"profile of the service under the {target} load:",
                *profile(server.pid, seconds, load),
                *([f"why: {ratio.when_missed}"] if ratio and ratio.when_missed else []),
            ]

    # Baselines

    @contextmanager
    def _baseline(self, target: str) -> Iterator[Served]:
        app = f"bench.baselines:{BASELINES[target]}"
        with serving(app, factory=True, cpu=self.server_cpu, ready_path="/") as server:
            yield server

    @staticmethod
    def _baseline_request(target: str, server: Served) -> Request:
        if target == "static":
            return post(server.url + GRAPHQL_PATH, graphql_body(), {})
        body = json.dumps({**FEATURE, "customerId": "7d0c1f4e-0000-4000-8000-000000000001"})
        return post(server.url + CONSUME_PATH, body.encode(), {})

    # Several workers on one Redis

    def _over_the_limit(self, callers: Callers, server: Served) -> tuple[str, int, Measured]:
        """A customer whose limit is half what the load will send, loaded."""
        warm = callers.consume(callers.customer())
        expected = self._load(warm, max(1.0, self.options.warmup)).rps * self.options.duration
        limit = max(1, round(expected / 2))
        customer = callers.customer()
        callers.limit(customer, limit)
        over = callers.consume(customer, LIMITED)
        return customer, limit, self.measure(server, over, self.options.duration)

    def _workers(self) -> None:
        """Two workers sharing Redis, a caller far over its limit: every consume allowed
        beyond the limit, as the ledger records them, is over-admission."""
        try:
            with redis_server() as redis_url, service_env(redis_url) as env:
                with serving_workers(env, 2, cpu=self.server_cpu) as server:
                    callers = Callers.of(server.url)
                    customer, limit, measured = self._over_the_limit(callers, server)
                # Stopped gracefully: the ledger holds every decision.
                allowed = allowed_in_ledger(env, customer)
        except Unavailable as exc:
            self.results.skipped["workers"] = str(exc)
            return
        self._record(
            "workers",
            measured,
            limit=limit,
            allowed=allowed,
            over_admitted=max(0, allowed - limit),
        )


def run(options: Options) -> Results:
    results = Bench(options).run()
    options.out.write_text(json.dumps(results.as_json(), indent=2) + "\n")
    return results
