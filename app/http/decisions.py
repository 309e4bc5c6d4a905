"""A consume or check decision on the wire, the same on both transports: its JSON fields,
its RateLimit headers, and the error a refused one is answered with (SPEC §7, "body of a
refused consume")."""

from __future__ import annotations

from typing import Any

from app.catalog.model import DISABLED, UNLIMITED
from app.core.errors import AppError, FeatureDisabled, RateLimited
from app.http.headers import rate_limit_headers
from app.usage.consume import Decision

POLICY = "feature"


def decision_body(decision: Decision) -> dict[str, Any]:
    return {
        "allowed": decision.allowed,
        "currentUsage": decision.current_usage,
        "limit": decision.limit,
        "remaining": decision.remaining,
        "resetAt": decision.reset_at,
    }


def decision_headers(decision: Decision) -> dict[str, str]:
    if decision.limit == UNLIMITED:
        return {}
    return rate_limit_headers(
        POLICY,
        limit=decision.limit,
        remaining=decision.remaining,
        reset_in=decision.reset_in,
        window=decision.window_seconds,
        refused=not decision.allowed,
    )


def refusal(decision: Decision) -> AppError | None:
    """The error a refused decision is answered with, carrying the decision."""
    if decision.allowed:
        return None
    if decision.limit == DISABLED:
        return FeatureDisabled(**decision_body(decision))
    return RateLimited(headers=decision_headers(decision), **decision_body(decision))
