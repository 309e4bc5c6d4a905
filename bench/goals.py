"""What the bench measures against: each goal compares figures measured in the same run.

| goal              | measured                                                | target  |
|-------------------|---------------------------------------------------------|---------|
| consume/bare      | consume req/s over a bare Starlette endpoint's          | >= 0.70 |
| consume/slowapi   | consume req/s over the same endpoint behind slowapi     | >= 1.5  |
| metrics on/off    | consume req/s with metrics over without (BILLING_METRICS| >= 0.95 |
|                   | =false), the same service otherwise                     |         |
| usage/static      | the GraphQL usage query over a static Strawberry schema | >= 0.8  |
| batch/consume     | decisions/s in batches of 100 over single consumes      | >= 10   |
| refused/limited   | req/s when every consume is refused (429) over when     | >= 1.0  |
|                   | every consume of the same limited feature is allowed    |         |
| storm p99         | plain consume's p99 over a normal caller's p99 beside a | >= 0.83 |
|                   | caller at 10x its limit (within 20%)                    |         |
| over-admission    | consumes allowed beyond the limit by two workers on one | == 0    |
|                   | Redis                                                   |         |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Figures = dict[str, dict[str, Any]]


def _rps(figures: dict[str, Any]) -> float:
    return float(figures["rps"])


def _decisions(figures: dict[str, Any]) -> float:
    return float(figures.get("decisions_per_s", figures["rps"]))


def _speed(figures: dict[str, Any]) -> float:
    """Faster is larger: the inverse of the 99th percentile latency."""
    return 1.0 / max(float(figures["latency_ms"]["p99"]), 1e-9)


@dataclass(frozen=True, slots=True)
class Ratio:
    top: str
    bottom: str
    least: float
    measure: Callable[[dict[str, Any]], float] = _rps
    # Where the measured side's time goes, and what design change would move it: shown
    # with the profile when the goal is missed.
    when_missed: str = ""

    def value(self, figures: Figures) -> float | None:
        if self.top not in figures or self.bottom not in figures:
            return None
        return self.measure(figures[self.top]) / self.measure(figures[self.bottom])

    def by_cpu(self, figures: Figures) -> float | None:
        """The same ratio from the server's CPU time per decision: what one core would
        serve, undisturbed by other work on the machine (for throughput ratios)."""
        if self.measure is _speed:
            return None
        top = _cpu_per_decision(figures[self.top])
        bottom = _cpu_per_decision(figures[self.bottom])
        return None if not top or not bottom else round(bottom / top, 3)


def _cpu_per_decision(figures: dict[str, Any]) -> float | None:
    cpu = figures.get("server_cpu_us_per_request")
    return None if not cpu else float(cpu) / figures.get("decisions_per_request", 1)


# Each request costs uvicorn two writes (the head, then the body) whatever the app does:
# about a third of a consume's CPU in the profiles.
_SERVER_WRITES = (
    "uvicorn writes a response's head and body with a system call each; a server that "
    "writes both at once, or a compiled HTTP layer, is the change that would move this"
)
RATIOS: dict[str, Ratio] = {
    "consume/bare": Ratio("consume", "bare", 0.70, when_missed=_SERVER_WRITES),
    "consume/slowapi": Ratio("consume", "slowapi", 1.5, when_missed=_SERVER_WRITES),
    "metrics on/off": Ratio(
        "consume",
        "consume_no_metrics",
        0.95,
        when_missed=(
            "each request counts its route, method and status and observes its latency, "
            "and each decision counts its outcome, under a lock of prometheus_client's; "
            "counting in per-worker plain integers exported on scrape would take it away"
        ),
    ),
    "usage/static": Ratio("usage", "static", 0.8),
    "batch/consume": Ratio(
        "batch",
        "consume",
        10.0,
        _decisions,
        when_missed=(
            "every decision is its own ledger row: built, converted and inserted (SQLite's "
            "insert alone is about 3 us of CPU a row on the serving core); recording a "
            "batch's identical decisions as one row with a count, or writing the ledger "
            "from a process of its own, is the change that would reach 10x"
        ),
    ),
    "refused/limited": Ratio(
        "refused",
        "limited",
        1.0,
        when_missed=(
            "a refusal answers three more headers (x-error, x-error-id, Retry-After), each "
            "checked by uvicorn before it is written, a body three times larger and a new "
            "error id; writing head and body at once (see consume/bare) would take much of "
            "the difference away"
        ),
    ),
    "storm p99": Ratio("storm_normal", "consume", 1 / 1.2, _speed),
}


@dataclass(frozen=True, slots=True)
class Check:
    """A figure that must equal a value."""

    target: str
    field: str
    expected: int

    def value(self, figures: Figures) -> int | None:
        found = figures.get(self.target, {}).get(self.field)
        return None if found is None else int(found)


CHECKS: dict[str, Check] = {
    "over-admission": Check("workers", "over_admitted", 0),
}
