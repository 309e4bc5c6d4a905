"""The benchmark: every target measured in one run, the table, and `bench-results.json`.

| target  | what is loaded                                                                  |
|---------|---------------------------------------------------------------------------------|
| consume | `POST /api/billing/v1/limits/consume`, a billing_service caller, unlimited tier |
| bare    | a bare Starlette endpoint: same JSON request parsed, same answer shape          |
| slowapi | the bare endpoint behind slowapi's decorator (`slowapi_asgi`, `slowapi_http`:   |
|         | behind its ASGI and its BaseHTTPMiddleware middleware, for information)         |
| usage   | the GraphQL usage query (30 features) as the customer's owner                   |
| static  | the same query against a Strawberry schema with a static resolver               |
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app.auth.tokens import mint_token
from bench.baselines import CONSUME_PATH, GRAPHQL_PATH
from bench.load import LoadResult, Request, run_load, wrk_available
from bench.servers import Served, cores, serving

API = "/api/billing/v1"
SECRET = "bench-signing-secret-0123456789-0123456789-0123456789-0123456789"
TIER = "enterprise_max"  # every rate limit unlimited: no consume is ever refused
SELF_LIMIT = "1000000000/minute"  # the service's own limit runs, but never refuses
FEATURE = {"serviceName": "ai-api", "featureKey": "chat_completions_per_minute"}
USAGE_QUERY = """query Usage {
  usage {
    identifier identifierType totalFeatures fetchedAt
    features {
      serviceName featureKey tierName window description
      currentUsage limit remaining resetAt isLocked
    }
  }
}"""
TARGETS = ("consume", "bare", "slowapi", "slowapi_asgi", "slowapi_http", "usage", "static")
# numerator, denominator, the least acceptable ratio of their requests per second
RATIOS = {
    "consume/bare": ("consume", "bare", 0.70),
    "consume/slowapi": ("consume", "slowapi", 2.0),
    "usage/static": ("usage", "static", 0.8),
}


@dataclass(frozen=True, slots=True)
class Options:
    duration: float = 10.0
    warmup: float = 2.0
    connections: int = 32
    loader: str = "auto"
    targets: tuple[str, ...] = TARGETS
    out: Path = Path("bench-results.json")


@dataclass
class Results:
    options: Options
    started_at: float = field(default_factory=time.time)
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def record(self, target: str, result: LoadResult, **extra: Any) -> None:
        self.figures[target] = {**result.as_json(), **extra}

    def ratios(self) -> dict[str, dict[str, Any]]:
        answer: dict[str, dict[str, Any]] = {}
        for name, (top, bottom, target) in RATIOS.items():
            if top in self.figures and bottom in self.figures:
                value = self.figures[top]["rps"] / self.figures[bottom]["rps"]
                answer[name] = {
                    "value": round(value, 3),
                    "target": target,
                    "met": value >= target,
                    "by_cpu": _cpu_ratio(self.figures[top], self.figures[bottom]),
                }
        return answer

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
            },
            "targets": self.figures,
            "skipped": self.skipped,
            "ratios": self.ratios(),
        }


def _cpu_ratio(top: dict[str, Any], bottom: dict[str, Any]) -> float | None:
    """The same ratio from the server's CPU time per request: the requests per second one
    core would serve, undisturbed by other work on the machine."""
    numerator, denominator = top["server_cpu_us_per_request"], bottom["server_cpu_us_per_request"]
    if not numerator or not denominator:
        return None
    return round(float(denominator) / float(numerator), 3)


class Bench:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.results = Results(options)
        self.server_cpu, self.loader_cpu = cores()

    def run(self) -> Results:
        wanted = set(self.options.targets)
        if wanted & {"consume", "usage"}:
            self._service(wanted)
        baselines = {
            "bare": "bare",
            "slowapi": "slowapi",
            "slowapi_asgi": "slowapi_asgi",
            "slowapi_http": "slowapi_http",
            "static": "static_graphql",
        }
        for target, factory in baselines.items():
            if target in wanted:
                self._baseline(target, factory)
        return self.results

    def measure(self, target: str, server: Served, request: Request) -> None:
        """Requests per second and latencies seen by the client; and the server's CPU time
        per request, which other work on the machine disturbs less."""
        if self.options.warmup > 0:
            self._load(request, self.options.warmup)
        cpu_before = server.cpu_seconds()
        result = self._load(request, self.options.duration)
        cpu = server.cpu_seconds() - cpu_before
        per_request = round(cpu / result.requests * 1e6, 1) if result.requests else None
        self.results.record(target, result, server_cpu_us_per_request=per_request)

    def _load(self, request: Request, duration: float) -> LoadResult:
        return run_load(
            request,
            duration=duration,
            connections=self.options.connections,
            loader=self.options.loader,
            cpu=self.loader_cpu,
        )

    def _service(self, wanted: set[str]) -> None:
        with (
            service_env() as env,
            serving("app.main:app", env=env, cpu=self.server_cpu, ready_path="/readyz") as server,
        ):
            callers = prepare_service(server.url)
            if "consume" in wanted:
                body = json.dumps({**FEATURE, "customerId": callers.customer_id}).encode()
                consume = post(server.url + API + "/limits/consume", body, callers.service)
                self.measure("consume", server, consume)
            if "usage" in wanted:
                self._usage(server, callers.owner)

    def _usage(self, server: Served, owner: dict[str, str]) -> None:
        url = server.url
        probe = httpx.post(url + GRAPHQL_PATH, json={"query": USAGE_QUERY}, headers=owner)
        body = probe.json()
        if probe.status_code != 200 or body.get("errors"):
            self.results.skipped["usage"] = f"the usage query failed: {probe.text[:500]}"
            return
        assert body["data"]["usage"]["totalFeatures"] >= 30, body
        self.measure("usage", server, post(url + GRAPHQL_PATH, graphql_body(), owner))

    def _baseline(self, target: str, factory: str) -> None:
        app = f"bench.baselines:{factory}"
        with serving(app, factory=True, cpu=self.server_cpu, ready_path="/") as server:
            if target == "static":
                request = post(server.url + GRAPHQL_PATH, graphql_body(), {})
            else:
                body = json.dumps({**FEATURE, "customerId": str(uuid.uuid4())}).encode()
                request = post(server.url + CONSUME_PATH, body, {})
            self.measure(target, server, request)


@dataclass(frozen=True, slots=True)
class Callers:
    customer_id: str
    owner: dict[str, str]
    service: dict[str, str]


@contextmanager
def service_env() -> Iterator[dict[str, str]]:
    with tempfile.TemporaryDirectory(prefix="billing-bench-") as data_dir:
        yield {
            "BILLING_DATA_DIR": data_dir,
            "BILLING_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir}/billing.sqlite3",
            "BILLING_JWT_SECRET": SECRET,
            "BILLING_RATE_LIMIT_STORAGE": "memory://",
            "BILLING_SELF_LIMIT_ANONYMOUS": SELF_LIMIT,
            "BILLING_SELF_LIMIT_USER": SELF_LIMIT,
            "BILLING_LOG_LEVEL": "WARNING",
        }


def bearer(
    user_id: uuid.UUID, email: str | None, roles: list[str], services: list[str] | None = None
) -> dict[str, str]:
    token = mint_token(SECRET, user_id=user_id, email=email, roles=roles, services=services)
    return {"Authorization": f"Bearer {token}"}


def prepare_service(url: str) -> Callers:
    """A customer on the unlimited tier; its owner; a metered service's caller (no e-mail,
    as service accounts have none)."""
    owner = bearer(uuid.uuid4(), "owner@bench.example", [])
    admin = bearer(uuid.uuid4(), None, ["billing_admin"])
    service = bearer(uuid.uuid4(), None, ["billing_service"], services=["*"])
    with httpx.Client(base_url=url + API, timeout=30) as client:
        address = {
            "street": "1 Bench Road",
            "city": "Leeds",
            "state": "West Yorkshire",
            "postalCode": "LS1",
            "country": "GB",
        }
        created = client.post(
            "/customer",
            headers=owner,
            json={"name": "Bench", "email": "bench@bench.example", "billingAddress": address},
        )
        created.raise_for_status()
        customer_id = created.json()["id"]
        client.put(
            f"/admin/customer/{customer_id}/tier", headers=admin, json={"tierName": TIER}
        ).raise_for_status()
    return Callers(customer_id, owner, service)


def graphql_body() -> bytes:
    return json.dumps({"query": USAGE_QUERY}).encode()


def post(url: str, body: bytes, headers: dict[str, str]) -> Request:
    return Request(url, "POST", body, {**headers, "Content-Type": "application/json"})


def report(results: Results, write: Callable[[str], None] = print) -> None:
    write(
        f"{'target':<14}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'p99.9 ms':>10}"
        f"{'cpu us/req':>12}{'errors':>8}{'non-2xx':>9}"
    )
    for target in TARGETS:
        figures = results.figures.get(target)
        if figures is None:
            reason = results.skipped.get(target, "not run")
            write(f"{target:<14}{'-':>9}  ({reason})")
            continue
        latency = figures["latency_ms"]
        write(
            f"{target:<14}{figures['rps']:>9.0f}{latency['p50']:>9.2f}{latency['p90']:>9.2f}"
            f"{latency['p99']:>9.2f}{latency['p999']:>10.2f}"
            f"{figures['server_cpu_us_per_request'] or 0:>12.1f}"
            f"{figures['errors']:>8}{figures['non_2xx']:>9}"
        )
    write("")
    write(f"{'ratio of req/s':<17}{'measured':>10}{'target':>9}  result   (by server cpu/req)")
    ratios = results.ratios()
    for name, (_, _, least) in RATIOS.items():
        ratio = ratios.get(name)
        if ratio is None:
            write(f"{name:<17}{'-':>10}{'>=' + str(least):>9}  not measured")
        else:
            verdict = "met" if ratio["met"] else "MISSED"
            by_cpu = "-" if ratio["by_cpu"] is None else f"{ratio['by_cpu']:.2f}"
            write(
                f"{name:<17}{ratio['value']:>10.2f}{'>=' + str(least):>9}  {verdict:<8} ({by_cpu})"
            )


def run(options: Options) -> Results:
    results = Bench(options).run()
    options.out.write_text(json.dumps(results.as_json(), indent=2) + "\n")
    return results
