"""The tables. Rows only: rules live in the domain services."""

from app.models.alerts import AlertThreshold, UsageAlert
from app.models.base import metadata
from app.models.billing import StripeEvent, StripeTask
from app.models.tables import (
    ApiKey,
    AuditChain,
    AuditEvent,
    Customer,
    Invitation,
    InvitationStatus,
    Membership,
    ServiceGrant,
    SubscriptionStatus,
    Tier,
    User,
    UserRoleGrant,
)
from app.models.usage import (
    CacheInvalidation,
    Feature,
    FeatureOverride,
    FeatureValue,
    QuotaCounter,
    UsageEvent,
)
from app.models.webhooks import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

__all__ = [
    "AlertThreshold",
    "ApiKey",
    "AuditChain",
    "AuditEvent",
    "CacheInvalidation",
    "Customer",
    "DeliveryStatus",
    "Feature",
    "FeatureOverride",
    "FeatureValue",
    "Invitation",
    "InvitationStatus",
    "Membership",
    "QuotaCounter",
    "ServiceGrant",
    "StripeEvent",
    "StripeTask",
    "SubscriptionStatus",
    "Tier",
    "UsageAlert",
    "UsageEvent",
    "User",
    "UserRoleGrant",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "metadata",
]
