"""Output types of limits, quotas, usage and consume decisions, built by their `of`.

Timestamps here (`resetAt`, `fetchedAt`) are unix seconds, as in REST, so both transports
give the same numbers.
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.core.errors import AppError
from app.graphql.enums import IdentifierType, Window
from app.http.decisions import refusal
from app.usage import reports
from app.usage.consume import Decision as DecisionResult

VALUE = "-1: unlimited; 0: disabled on the tier."


@strawberry.type(description="A rate limit: how often a feature may be used in a window.")
class Limit:
    service_name: str
    feature_key: str
    value: int = strawberry.field(description=VALUE)
    window: Window
    description: str

    @classmethod
    def of(cls, item: reports.Allowance) -> Limit:
        assert item.window is not None  # rate limits always have one
        return cls(
            service_name=item.service_name,
            feature_key=item.feature_key,
            value=item.value,
            window=Window(item.window.value),
            description=item.description,
        )


@strawberry.type(description="A quota: how many of a persistent resource may exist at once.")
class Quota:
    service_name: str
    feature_key: str
    value: int = strawberry.field(description=VALUE)
    description: str

    @classmethod
    def of(cls, item: reports.Allowance) -> Quota:
        return cls(
            service_name=item.service_name,
            feature_key=item.feature_key,
            value=item.value,
            description=item.description,
        )


@strawberry.type(description="How much of one rate limit is used in its current window.")
class FeatureUsage:
    service_name: str
    feature_key: str
    tier_name: str
    window: Window
    description: str
    current_usage: int
    limit: int = strawberry.field(description=VALUE)
    remaining: int = strawberry.field(description="-1 when the limit is unlimited.")
    reset_at: int = strawberry.field(description="When the window ends, in unix seconds.")
    is_locked: bool = strawberry.field(description="True while requests are being refused.")

    @classmethod
    def of(cls, item: reports.FeatureUsage) -> FeatureUsage:
        return cls(
            service_name=item.service_name,
            feature_key=item.feature_key,
            tier_name=item.tier_name,
            window=Window(item.window.value),
            description=item.description,
            current_usage=item.current_usage,
            limit=item.limit,
            remaining=item.remaining,
            reset_at=item.reset_at,
            is_locked=item.is_locked,
        )


@strawberry.type(description="Usage of every rate limit; a team shares one pool.")
class Usage:
    identifier: str = strawberry.field(description="The user id, or the address key.")
    identifier_type: IdentifierType
    total_features: int
    fetched_at: int = strawberry.field(description="Unix seconds.")
    features: list[FeatureUsage]

    @classmethod
    def of(cls, report: reports.UsageReport) -> Usage:
        return cls(
            identifier=report.identifier,
            identifier_type=IdentifierType(report.identifier_type.value),
            total_features=len(report.features),
            fetched_at=report.fetched_at,
            features=[FeatureUsage.of(item) for item in report.features],
        )


@strawberry.type(description="How much of one quota the customer holds.")
class QuotaFeatureUsage:
    service_name: str
    feature_key: str
    current_usage: int
    limit: int = strawberry.field(description=VALUE)
    remaining: int = strawberry.field(description="-1 when the quota is unlimited.")
    reset_at: int = strawberry.field(description="Always 0: quotas have no window.")

    @classmethod
    def of(cls, item: reports.QuotaUsage) -> QuotaFeatureUsage:
        return cls(
            service_name=item.service_name,
            feature_key=item.feature_key,
            current_usage=item.current_usage,
            limit=item.limit,
            remaining=item.remaining,
            reset_at=item.reset_at,
        )


@strawberry.type(description="Usage of every quota of the customer.")
class QuotaUsage:
    customer_id: strawberry.ID
    total_features: int
    fetched_at: int = strawberry.field(description="Unix seconds.")
    features: list[QuotaFeatureUsage]

    @classmethod
    def of(cls, report: reports.QuotaUsageReport) -> QuotaUsage:
        return cls(
            customer_id=strawberry.ID(str(report.customer_id)),
            total_features=len(report.features),
            fetched_at=report.fetched_at,
            features=[QuotaFeatureUsage.of(item) for item in report.features],
        )


@strawberry.type(description="The answer to a consume or a check.")
class Decision:
    allowed: bool
    current_usage: int
    limit: int = strawberry.field(description=VALUE)
    remaining: int = strawberry.field(description="-1 when the limit is unlimited.")
    reset_at: int = strawberry.field(description="When the window ends, in unix seconds.")
    window: Window

    @classmethod
    def of(cls, decision: DecisionResult) -> Decision:
        return cls(
            allowed=decision.allowed,
            current_usage=decision.current_usage,
            limit=decision.limit,
            remaining=decision.remaining,
            reset_at=decision.reset_at,
            window=Window(decision.window),
        )


@strawberry.type(
    description="A request of a batch that was refused or invalid: the error a single "
    "consume would have answered, and, for a refusal, its decision."
)
class ConsumeError:
    code: str
    message: str
    status: int
    param: str | None = None
    decision: Decision | None = strawberry.field(
        default=None, description="The refused decision (RATE_LIMITED, FEATURE_DISABLED)."
    )

    @classmethod
    def of(cls, error: AppError, decision: DecisionResult | None = None) -> ConsumeError:
        return cls(
            code=error.code,
            message=error.message,
            status=error.status,
            param=error.param,
            decision=None if decision is None else Decision.of(decision),
        )


ConsumeOutcome = Annotated[
    Decision | ConsumeError,
    strawberry.union(
        "ConsumeOutcome", description="What one request of a batch came to, in its order."
    ),
]


def consume_outcome(outcome: DecisionResult | AppError) -> Decision | ConsumeError:
    if isinstance(outcome, AppError):
        return ConsumeError.of(outcome)
    refused = refusal(outcome)
    return Decision.of(outcome) if refused is None else ConsumeError.of(refused, outcome)
