"""Output types of limits, quotas, usage and consume decisions, built by their `of`.

Timestamps here (`resetAt`, `fetchedAt`) are unix seconds, as in REST, so both transports
give the same numbers.
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.core.errors import AppError
from app.graphql.domain_types import DomainType, domain_type
from app.graphql.enums import Window
from app.graphql.errors import graphql_param
from app.http.decisions import refusal
from app.usage import reports
from app.usage.consume import Decision as DecisionResult

VALUE = "-1: unlimited; 0: disabled on the tier."


@domain_type(
    reports.Allowance, description="A rate limit: how often a feature may be used in a window."
)
class Limit(DomainType):
    value: int = strawberry.field(description=VALUE)
    window: Window  # rate limits always have one


@domain_type(
    reports.Allowance,
    description="A quota: how many of a persistent resource may exist at once.",
)
class Quota(DomainType):
    value: int = strawberry.field(description=VALUE)
    window: strawberry.Private[Window | None]


@domain_type(
    reports.FeatureUsage, description="How much of one rate limit is used in its current window."
)
class FeatureUsage(DomainType):
    limit: int = strawberry.field(description=VALUE)
    remaining: int = strawberry.field(description="-1 when the limit is unlimited.")
    reset_at: int = strawberry.field(description="When the window ends, in unix seconds.")
    is_locked: bool = strawberry.field(description="True while requests are being refused.")


def _total(root: strawberry.Parent[reports.UsageReport | reports.QuotaUsageReport]) -> int:
    return len(root.features)


@domain_type(reports.UsageReport, description="Usage of every rate limit; a team shares one pool.")
class Usage(DomainType):
    identifier: str = strawberry.field(description="The user id, or the address key.")
    total_features: int = strawberry.field(resolver=_total)
    fetched_at: int = strawberry.field(description="Unix seconds.")


@domain_type(reports.QuotaUsage, description="How much of one quota the customer holds.")
class QuotaFeatureUsage(DomainType):
    limit: int = strawberry.field(description=VALUE)
    remaining: int = strawberry.field(description="-1 when the quota is unlimited.")
    reset_at: int = strawberry.field(description="Always 0: quotas have no window.")


@domain_type(reports.QuotaUsageReport, description="Usage of every quota of the customer.")
class QuotaUsage(DomainType):
    customer_id: strawberry.ID
    total_features: int = strawberry.field(resolver=_total)
    fetched_at: int = strawberry.field(description="Unix seconds.")


@domain_type(DecisionResult, description="The answer to a consume or a check.")
class Decision(DomainType):
    limit: int = strawberry.field(description=VALUE)
    remaining: int = strawberry.field(description="-1 when the limit is unlimited.")
    reset_at: int = strawberry.field(description="When the window ends, in unix seconds.")
    window: Window
    window_seconds: strawberry.Private[int]
    reset_in: strawberry.Private[int]


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
        param = graphql_param(error)
        return cls(
            code=error.code,
            message=error.message_naming(param),
            status=error.status,
            param=param,
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
