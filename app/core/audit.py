"""The audit trail: what happened to an account, kept after the account is gone."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent


def record(
    session: AsyncSession,
    action: str,
    *,
    at: datetime,
    actor: uuid.UUID | None,
    customer_id: uuid.UUID | None,
    **details: Any,
) -> None:
    session.add(
        AuditEvent(
            occurred_at=at,
            actor_user_id=actor,
            action=action,
            customer_id=customer_id,
            details={
                key: str(value) if isinstance(value, uuid.UUID) else value
                for key, value in details.items()
            },
        )
    )
