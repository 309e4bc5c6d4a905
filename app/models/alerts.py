"""Tables of usage alerts: the thresholds a customer set, and the alerts raised."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import new_id, utc_column


class AlertThreshold(SQLModel, table=True):
    """The percentages of one scope of a customer's alerts: a feature (`service_name` and
    `feature_key`), a service (`feature_key` empty) or every feature (both empty). An
    empty list turns the scope's alerts off."""

    __tablename__ = "alert_threshold"

    customer_id: uuid.UUID = Field(primary_key=True, foreign_key="customer.id", ondelete="CASCADE")
    service_name: str = Field(default="", primary_key=True, max_length=64)
    feature_key: str = Field(default="", primary_key=True, max_length=64)
    percents: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class UsageAlert(SQLModel, table=True):
    """A threshold reached: usage of a rate limit in one window (`kind` usage), or of a
    quota (`kind` quota, no window).

    No foreign key to the customer, as in the ledger: the writer behind the decisions
    never fails on a customer deleted in the meantime. The unique constraint is what
    makes an alert exact: one per customer, feature, window and threshold, however many
    processes and retries try to store it (a quota's, with no window start, are exact by
    the allocation's transaction instead)."""

    __tablename__ = "usage_alert"
    __table_args__ = (
        UniqueConstraint("customer_id", "service_name", "feature_key", "window_start", "percent"),
        Index("ix_usage_alert_customer_occurred", "customer_id", "occurred_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    customer_id: uuid.UUID
    kind: str = Field(max_length=8)
    service_name: str = Field(max_length=64)
    feature_key: str = Field(max_length=64)
    window: str | None = Field(default=None, max_length=8)
    window_start: datetime | None = utc_column(default=None)
    percent: int
    limit: int
    usage: int
    occurred_at: datetime = utc_column()
