"""The calls Stripe must receive, recorded in the transaction of the change that needs
them: a task exists if and only if its change commits. `app.billing.outbox` carries them
out; the domains that need Stripe told something only record it here, and so need not
know the billing package."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import StripeTask

CREATE_CUSTOMER = "create_customer"
UPDATE_CUSTOMER = "update_customer"
CANCEL_SUBSCRIPTIONS = "cancel_subscriptions"
WAKE = "billing.stripe_tasks"  # `session.info` flag: the transaction wrote a task


def enqueue(
    session: AsyncSession,
    kind: str,
    *,
    at: datetime,
    customer_id: uuid.UUID | None = None,
    stripe_customer_id: str | None = None,
) -> None:
    """Add a task to the caller's transaction: it exists if and only if that commits."""
    session.add(
        StripeTask(
            kind=kind,
            customer_id=customer_id,
            stripe_customer_id=stripe_customer_id,
            next_attempt_at=at,
            created_at=at,
        )
    )
    session.info[WAKE] = True
