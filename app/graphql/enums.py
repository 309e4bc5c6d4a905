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
