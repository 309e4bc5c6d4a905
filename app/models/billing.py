"""Tables of the Stripe integration: the outbox of calls to make, and webhook events seen."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.base import new_id, utc_column


class StripeTask(SQLModel, table=True):
    """A call Stripe must receive, written in the transaction that made it necessary.

    The outbox: creating or deleting a customer commits its task with it, and a worker
    carries the task out afterwards, retrying until Stripe has it, with idempotency keys
    derived from what the task is about, so retries can never do it twice.
    """

    __tablename__ = "stripe_task"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    kind: str = Field(max_length=32)
    # No foreign key: a deleted customer's cancellation outlives the customer.
    customer_id: uuid.UUID | None = Field(default=None, index=True)
    stripe_customer_id: str | None = Field(default=None, max_length=255)
    attempts: int = 0
    next_attempt_at: datetime = utc_column(index=True)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = utc_column()


class StripeEvent(SQLModel, table=True):
    """A webhook event applied: its id is claimed in the transaction of its effect."""

    __tablename__ = "stripe_event"

    id: str = Field(primary_key=True, max_length=255)
    type: str = Field(max_length=100)
    received_at: datetime = utc_column(index=True)
