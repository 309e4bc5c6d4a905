"""The domain's enums under their GraphQL names: one enum per concept on both transports.

`strawberry.enum` registers each domain `enum.Enum` as it is, so the domain packages stay
free of Strawberry; a GraphQL value's name is the member's name.
"""

from __future__ import annotations

import strawberry

from app.admin.service import CustomerSort
from app.alerts.thresholds import AlertKind
from app.auth.principal import PlatformRole
from app.auth.roles import MemberRole
from app.catalog.model import FeatureKind, Window
from app.models import DeliveryStatus, InvitationStatus, SubscriptionStatus
from app.usage.ledger import UsageEventType
from app.usage.reports import IdentifierType
from app.webhooks.schemas import AttemptStatus

strawberry.enum(MemberRole, name="Role", description="Team roles, most powerful first.")
strawberry.enum(
    SubscriptionStatus,
    description="The state of a customer's subscription, as Stripe reports it.",
)
strawberry.enum(Window, description="The window a rate limit counts in; aligned to the UTC clock.")
strawberry.enum(
    IdentifierType,
    description="Whose usage a report shows: a signed-in user's, or an address's.",
)
strawberry.enum(
    FeatureKind, description="A rate limit counts uses in a window; a quota, resources held."
)
strawberry.enum(UsageEventType, description="What a granular usage event records.")
strawberry.enum(
    InvitationStatus,
    description="Where an invitation stands: pending until accepted, revoked or expired.",
)
strawberry.enum(CustomerSort, description="The order of the admin customer list.")
strawberry.enum(PlatformRole, description="Roles across every customer, granted by the operator.")
strawberry.enum(
    DeliveryStatus,
    name="WebhookDeliveryStatus",
    description="Where a delivery stands: pending until an attempt succeeds or retries run out.",
)
strawberry.enum(
    AttemptStatus,
    name="WebhookAttemptStatus",
    description="What came of one attempt: a 2xx answer, or anything else.",
)
strawberry.enum(
    AlertKind, description="What an alert is about: a rate limit's usage in a window, or a quota."
)

Role = MemberRole

__all__ = [
    "AlertKind",
    "AttemptStatus",
    "CustomerSort",
    "DeliveryStatus",
    "FeatureKind",
    "IdentifierType",
    "InvitationStatus",
    "PlatformRole",
    "Role",
    "SubscriptionStatus",
    "UsageEventType",
    "Window",
]
