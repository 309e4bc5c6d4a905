"""Output types of limits, quotas, usage and consume decisions, built by their `of`.

The domain counts instants in unix seconds, as REST shows them; here each is a `DateTime`
(GraphQL's `Int` is 32-bit and ends in 2038).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Protocol

import strawberry

from app.catalog.model import UNLIMITED
from app.core.errors import AppError
from app.graphql.domain_types import DomainType, domain_type
from app.graphql.enums import Window
from app.graphql.error_codes import ErrorCode, error_code
from app.graphql.errors import graphql_param
from app.graphql.scalars import instant
from app.http.decisions import refusal
from app.usage import reports
from app.usage.consume import Decision as DecisionResult

VALUE = "-1: unlimited; 0: disabled on the tier."
WINDOW_END = "When the window ends."
UNLIMITED_VALUE = "Whether `value` is -1."
UNLIMITED_LIMIT = "Whether `limit` is -1."


class _Resets(Protocol):
    @property
    def reset_at(self) -> int: ...


class _Fetched(Protocol):
    @property
    def fetched_at(self) -> int: ...


def _reset_at(root: strawberry.Parent[_Resets]) -> datetime:
    return instant(root.reset_at)


def _fetched_at(root: strawberry.Parent[_Fetched]) -> datetime:
    return instant(root.fetched_at)


class _Valued(Protocol):
    @property
    def value(self) -> int: ...


class _Limited(Protocol):
    @property
    def limit(self) -> int: ...


def _value_unlimited(root: strawberry.Parent[_Valued]) -> bool:
    return root.value == UNLIMITED


def _limit_unlimited(root: strawberry.Parent[_Limited]) -> bool:
    return root.limit == UNLIMITED


def _no_window(root: strawberry.Parent[reports.QuotaUsage]) -> datetime | None:
    return None


@domain_type(
    reports.Allowance, description="A rate limit: how often a feature may be used in a window."
)
class Limit(DomainType):
    value: int = strawberry.field(description=VALUE)
    unlimited: bool = strawberry.field(resolver=_value_unlimited, description=UNLIMITED_VALUE)
    window: Window  # rate limits always have one


@domain_type(
    reports.Allowance,
    description="A quota: how many of a persistent resource may exist at once.",
)
class Quota(DomainType):
    value: int = strawberry.field(description=VALUE)
    unlimited: bool = strawberry.field(resolver=_value_unlimited, description=UNLIMITED_VALUE)
    window: strawberry.Private[Window | None]


@domain_type(
    reports.FeatureUsage, description="How much of one rate limit is used in its current window."
)
class FeatureUsage(DomainType):
    limit: int = strawberry.field(description=VALUE)
    unlimited: bool = strawberry.field(resolver=_limit_unlimited, description=UNLIMITED_LIMIT)
    remaining: int = strawberry.field(description="-1 when the limit is unlimited.")
    reset_at: datetime = strawberry.field(resolver=_reset_at, description=WINDOW_END)
    is_locked: bool = strawberry.field(description="True while requests are being refused.")


def _total(root: strawberry.Parent[reports.UsageReport | reports.QuotaUsageReport]) -> int:
    return len(root.features)


@domain_type(reports.UsageReport, description="Usage of every rate limit; a team shares one pool.")
class Usage(DomainType):
    identifier: str = strawberry.field(description="The user id, or the address key.")
    total_features: int = strawberry.field(resolver=_total)
    fetched_at: datetime = strawberry.field(resolver=_fetched_at)


@domain_type(reports.QuotaUsage, description="How much of one quota the customer holds.")
class QuotaFeatureUsage(DomainType):
    limit: int = strawberry.field(description=VALUE)
    unlimited: bool = strawberry.field(resolver=_limit_unlimited, description=UNLIMITED_LIMIT)
    remaining: int = strawberry.field(description="-1 when the quota is unlimited.")
    reset_at: datetime | None = strawberry.field(
        resolver=_no_window, description="Always null: quotas have no window."
    )
    is_locked: bool = strawberry.field(description="True while allocations are being refused.")


@domain_type(reports.QuotaUsageReport, description="Usage of every quota of the customer.")
class QuotaUsage(DomainType):
    customer_id: strawberry.ID
    total_features: int = strawberry.field(resolver=_total)
    fetched_at: datetime = strawberry.field(resolver=_fetched_at)


@domain_type(DecisionResult, description="The answer to a consume or a check.")
class Decision(DomainType):
    limit: int = strawberry.field(description=VALUE)
    unlimited: bool = strawberry.field(resolver=_limit_unlimited, description=UNLIMITED_LIMIT)
    remaining: int = strawberry.field(description="-1 when the limit is unlimited.")
    reset_at: datetime = strawberry.field(resolver=_reset_at, description=WINDOW_END)
    window: Window
    window_seconds: strawberry.Private[int]
    reset_in: strawberry.Private[int]


@strawberry.type(
    description="A request of a batch that was refused or invalid: the error a single "
    "consume would have answered, and, for a refusal, its decision."
)
class ConsumeError:
    code: ErrorCode
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
            code=error_code(error.code),
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
