"""Tables of outgoing webhooks: the customers' endpoints, the events they are sent, the
deliveries still to make (the outbox) and the log of every attempt."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel

from app.models.base import new_id, utc_column


class WebhookEndpoint(SQLModel, table=True):
    """Where a customer wants its events sent, and the secret they are signed with."""

    __tablename__ = "webhook_endpoint"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    customer_id: uuid.UUID = Field(foreign_key="customer.id", index=True, ondelete="CASCADE")
    url: str = Field(max_length=2048)
    description: str = Field(default="", max_length=500)
    # The event types sent to it; `["*"]` is every type, those added later included.
    event_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    enabled: bool = True
    # Standard Webhooks' `whsec_<base64>`. Kept as it is: signing needs the secret itself.
    secret: str = Field(max_length=100)
    # The secret before the last rotation, still signing beside the new one until then,
    # so that receivers can switch without dropping an event.
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_secret_until: datetime | None = utc_column(default=None)
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()


class WebhookEvent(SQLModel, table=True):
    """An event as its receivers get it: the body is written once, so every attempt of
    every delivery sends the same bytes under the same `webhook-id`."""

    __tablename__ = "webhook_event"

    id: str = Field(primary_key=True, max_length=40)  # `msg_<32 hex>`, the webhook-id
    customer_id: uuid.UUID = Field(foreign_key="customer.id", index=True, ondelete="CASCADE")
    type: str = Field(max_length=64)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    occurred_at: datetime = utc_column()


class DeliveryStatus(StrEnum):
    """Where a delivery stands: pending until an attempt succeeds or the retries run out."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookDelivery(SQLModel, table=True):
    """One event to one endpoint: a row of the outbox while pending, its record after.

    A worker claims a due row by moving `next_attempt_at` past its lease and writing its
    own `claim_token`; it records the outcome only while the token is still its own.
    """

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_endpoint", "endpoint_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    event_id: str = Field(
        foreign_key="webhook_event.id", index=True, ondelete="CASCADE", max_length=40
    )
    endpoint_id: uuid.UUID = Field(foreign_key="webhook_endpoint.id", ondelete="CASCADE")
    status: str = Field(default=DeliveryStatus.PENDING, max_length=16)
    # A replay asked for by hand: one attempt, no schedule of retries.
    manual: bool = False
    attempts: int = 0
    next_attempt_at: datetime | None = utc_column(default=None)
    claim_token: uuid.UUID | None = None
    last_attempt_at: datetime | None = utc_column(default=None)
    created_at: datetime = utc_column()


class WebhookAttempt(SQLModel, table=True):
    """One request made to an endpoint, and what came of it (the delivery log)."""

    __tablename__ = "webhook_attempt"
    __table_args__ = (Index("ix_webhook_attempt_endpoint", "endpoint_id", "attempted_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    delivery_id: uuid.UUID = Field(
        foreign_key="webhook_delivery.id", index=True, ondelete="CASCADE"
    )
    endpoint_id: uuid.UUID = Field(foreign_key="webhook_endpoint.id", ondelete="CASCADE")
    attempted_at: datetime = utc_column()
    succeeded: bool
    latency_ms: int
    response_status: int | None = None
    # At most the first bytes of the body, never the whole of it.
    response_excerpt: str | None = Field(default=None, max_length=256)
    error: str | None = Field(default=None, max_length=500)
