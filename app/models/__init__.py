"""The tables. Rows only: rules live in the domain services."""

from app.models.base import metadata
from app.models.tables import (
    ApiKey,
    AuditEvent,
    Customer,
    Invitation,
    Membership,
    Tier,
    User,
    UserRoleGrant,
)

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Customer",
    "Invitation",
    "Membership",
    "Tier",
    "User",
    "UserRoleGrant",
    "metadata",
]
