"""GraphQL enums. They mirror the domain's enums by value (a test keeps them in step), so
domain packages stay free of Strawberry."""

from __future__ import annotations

from enum import StrEnum

import strawberry

from app.auth.roles import MemberRole


@strawberry.enum(description="Team roles, most powerful first.")
class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    USER = "user"

    def to_domain(self) -> MemberRole:
        return MemberRole(self.value)


@strawberry.enum(description="The state of a customer's subscription, as Stripe reports it.")
class SubscriptionStatus(StrEnum):
    NONE = "none"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    INCOMPLETE = "incomplete"


@strawberry.enum(description="The window a rate limit counts in; aligned to the UTC clock.")
class Window(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


@strawberry.enum(description="Whose usage a report shows: a signed-in user's, or an address's.")
class IdentifierType(StrEnum):
    USER = "user"
    IP = "ip"


@strawberry.enum(description="A rate limit counts uses in a window; a quota, resources held.")
class FeatureKind(StrEnum):
    RATE = "rate"
    QUOTA = "quota"


@strawberry.enum(description="What a granular usage event records.")
class UsageEventType(StrEnum):
    RATE_LIMIT = "rate_limit"
    QUOTA = "quota"
    UNIQUE_LIMIT = "unique_limit"
