"""Tables of the catalog, quotas, the usage ledger and cache invalidation."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import new_id, utc_column


class Feature(SQLModel, table=True):
    """A rate-limited feature or a quota of a metered service."""

    __table_args__ = (UniqueConstraint("service_name", "feature_key"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    service_name: str = Field(max_length=64, index=True)
    feature_key: str = Field(max_length=64)
    kind: str = Field(max_length=8)
    window: str | None = Field(default=None, max_length=8)
    description: str = Field(default="", max_length=512)


class FeatureValue(SQLModel, table=True):
    """What a tier allows of a feature: -1 unlimited, 0 disabled."""

    __tablename__ = "feature_value"

    feature_id: uuid.UUID = Field(primary_key=True, foreign_key="feature.id", ondelete="CASCADE")
    tier_id: uuid.UUID = Field(primary_key=True, foreign_key="tier.id", ondelete="CASCADE")
    value: int


class FeatureOverride(SQLModel, table=True):
    """A value set by billing_admin for one customer, in place of its tier's."""

    __tablename__ = "feature_override"

    customer_id: uuid.UUID = Field(primary_key=True, foreign_key="customer.id", ondelete="CASCADE")
    feature_id: uuid.UUID = Field(primary_key=True, foreign_key="feature.id", ondelete="CASCADE")
    value: int


class QuotaCounter(SQLModel, table=True):
    """Resources a customer holds of a quota; changed only by conditional UPDATEs."""

    __tablename__ = "quota_counter"

    customer_id: uuid.UUID = Field(primary_key=True, foreign_key="customer.id", ondelete="CASCADE")
    feature_id: uuid.UUID = Field(primary_key=True, foreign_key="feature.id", ondelete="CASCADE")
    used: int = 0


class UsageEvent(SQLModel, table=True):
    """The ledger: every consume and quota change, in arrival order (`seq`)."""

    __tablename__ = "usage_event"
    __table_args__ = (
        Index("ix_usage_event_customer_seq", "customer_id", "seq"),
        Index("ix_usage_event_counter", "subject", "feature_id", "window_start"),
    )

    seq: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    subject: str = Field(max_length=80)  # the counter's owner: customer:<id> or ip:<key>
    customer_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    feature_id: uuid.UUID
    service_name: str = Field(max_length=64)
    feature_key: str = Field(max_length=64)
    type: str = Field(max_length=16)
    amount: int
    allowed: bool
    occurred_at: datetime = utc_column()
    window: str | None = Field(default=None, max_length=8)
    window_start: datetime | None = utc_column(default=None)


class CacheInvalidation(SQLModel, table=True):
    """Changes other processes must drop from their in-process caches."""

    __tablename__ = "cache_invalidation"

    seq: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    topic: str = Field(max_length=32)
    key: str = Field(max_length=80)
    created_at: datetime = utc_column(index=True)
