"""Tables of identity, customers, teams and tiers."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from app.models.base import new_id, utc_column


class User(SQLModel, table=True):
    """A person known to the identity provider; ids come from the token's `sub`."""

    id: uuid.UUID = Field(primary_key=True)
    email: str | None = Field(default=None, max_length=320, index=True)
    created_at: datetime = utc_column()


class UserRoleGrant(SQLModel, table=True):
    """A platform role granted by the operator (in addition to the roles a token carries)."""

    __tablename__ = "user_role_grant"

    user_id: uuid.UUID = Field(primary_key=True, foreign_key="user.id", ondelete="CASCADE")
    role: str = Field(primary_key=True, max_length=32)
    granted_at: datetime = utc_column()


class ServiceGrant(SQLModel, table=True):
    """A service a billing_service user may meter, granted by the operator (SPEC §2): the
    scope of its API keys, beside what its tokens' `services` claim names."""

    __tablename__ = "service_grant"

    user_id: uuid.UUID = Field(primary_key=True, foreign_key="user.id", ondelete="CASCADE")
    service_name: str = Field(primary_key=True, max_length=64)
    granted_at: datetime = utc_column()


class Tier(SQLModel, table=True):
    __table_args__ = (
        # Exactly one default tier: at most one by this index, at least one by the service.
        Index(
            "uq_tier_default",
            "is_default",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=128)
    description: str = Field(default="", max_length=512)
    stripe_price_id: str | None = Field(default=None, max_length=255)
    price: int = 0
    member_limit: int = 0
    is_active: bool = True
    is_default: bool = False
    is_assignable: bool = True
    sort_order: int = 0


class SubscriptionStatus(StrEnum):
    """The values of `Customer.subscription_status` (SPEC §3.1)."""

    NONE = "none"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    INCOMPLETE = "incomplete"


class Customer(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=200)
    email: str = Field(max_length=320)
    street: str = Field(default="", max_length=200)
    city: str = Field(default="", max_length=100)
    state: str = Field(default="", max_length=100)
    postal_code: str = Field(default="", max_length=20)
    country: str = Field(max_length=2)
    locale: str | None = Field(default=None, max_length=35)
    tier_id: uuid.UUID = Field(foreign_key="tier.id", index=True)
    subscription_status: str = Field(default="none", max_length=20, index=True)
    subscription_enabled: bool = False
    # While past_due, the subscription stays enabled until then (the grace period).
    grace_ends_at: datetime | None = utc_column(default=None)
    trial_used: bool = False
    # The quantity of the live subscription (0 without one), as the last webhook found it.
    subscription_quantity: int = 0
    stripe_customer_id: str | None = Field(default=None, max_length=255, unique=True)
    # Members plus pending invitations; raised only by a conditional UPDATE so that
    # concurrent additions can never exceed the tier's member limit.
    seats_used: int = 0
    # Its webhook endpoints, raised by the same kind of conditional UPDATE against their cap.
    webhook_endpoint_count: int = 0
    created_at: datetime = utc_column(index=True)


class Membership(SQLModel, table=True):
    __table_args__ = (
        Index(
            "uq_membership_one_owner",
            "customer_id",
            unique=True,
            sqlite_where=text("role = 'owner'"),
            postgresql_where=text("role = 'owner'"),
        ),
    )

    # The primary key on user_id alone is what makes "one customer per user" a fact.
    user_id: uuid.UUID = Field(primary_key=True, foreign_key="user.id")
    customer_id: uuid.UUID = Field(foreign_key="customer.id", index=True, ondelete="CASCADE")
    role: str = Field(max_length=16)
    joined_at: datetime = utc_column()


class InvitationStatus(StrEnum):
    """Where an invitation stands: pending until accepted, revoked or expired."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"
    EXPIRED = "expired"


class Invitation(SQLModel, table=True):
    __table_args__ = (
        Index(
            "uq_invitation_pending_email",
            "customer_id",
            "email",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    customer_id: uuid.UUID = Field(foreign_key="customer.id", index=True, ondelete="CASCADE")
    email: str = Field(max_length=320, index=True)
    role: str = Field(max_length=16)
    status: str = Field(default="pending", max_length=16)
    invited_by: uuid.UUID | None = Field(default=None)
    accepted_by: uuid.UUID | None = Field(default=None)
    created_at: datetime = utc_column()
    expires_at: datetime = utc_column()


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user.id", index=True)
    name: str = Field(max_length=100)
    key: str = Field(max_length=64, unique=True)
    secret_hash: str = Field(max_length=128)
    created_at: datetime = utc_column()
    expires_at: datetime | None = utc_column(default=None)
    last_used_at: datetime | None = utc_column(default=None)
    revoked_at: datetime | None = utc_column(default=None)


class AuditEvent(SQLModel, table=True):
    """What happened to an account, kept after the account itself is gone.

    Each record is the next link of its chain (`app.core.audit`): its customer's, or the
    platform's for records without one. `hash` covers the record and `prev_hash`, the hash
    of the record before it in the chain, so a change, an insertion or a removal shows.
    """

    __tablename__ = "audit_event"
    # No two records take the same place in a chain, however many transactions append.
    __table_args__ = (UniqueConstraint("chain_key", "seq"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    chain_key: str = Field(max_length=64)
    seq: int
    occurred_at: datetime = utc_column(index=True)
    actor_user_id: uuid.UUID | None = None
    action: str = Field(max_length=64)
    customer_id: uuid.UUID | None = Field(default=None, index=True)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str = Field(max_length=64)


class AuditChain(SQLModel, table=True):
    """The head of each audit chain: its last seq and hash. Appending updates it under its
    row lock, which is what orders concurrent appends to one chain."""

    __tablename__ = "audit_chain"

    chain_key: str = Field(primary_key=True, max_length=64)
    seq: int
    hash: str = Field(max_length=64)
