"""An alert, as the outgoing webhook it becomes (`usage.threshold_reached`,
`quota.threshold_reached`), written in the transaction that stores the alert."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.store import event_type
from app.events.outgoing import emit
from app.events.types import EventType
from app.models import UsageAlert


async def as_webhook(session: AsyncSession, alert: UsageAlert) -> None:
    await emit(
        session,
        customer_id=alert.customer_id,
        type=EventType(event_type(alert)),
        data=payload(alert),
        at=alert.occurred_at,
    )


def payload(alert: UsageAlert) -> dict[str, Any]:
    return {
        "alertId": str(alert.id),
        "customerId": str(alert.customer_id),
        "kind": alert.kind,
        "serviceName": alert.service_name,
        "featureKey": alert.feature_key,
        "window": alert.window,
        "windowStart": alert.window_start.isoformat() if alert.window_start else None,
        "percent": alert.percent,
        "limit": alert.limit,
        "usage": alert.usage,
        "occurredAt": alert.occurred_at.isoformat(),
    }
