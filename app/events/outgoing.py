"""Telling a customer's webhook endpoints that something happened.

`emit` is called by the domain services where the change happens, inside the transaction
that makes it: the event and its deliveries commit with the change or not at all, and a
worker (`app.webhooks.worker`) sends them afterwards. The body follows the Standard
Webhooks recommendation, `{"type", "timestamp", "data"}`, written once so that every
attempt sends the same bytes under the same `webhook-id`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.clock import iso_z
from app.events.types import EventType, subscribes
from app.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

WAKE = "webhooks.deliveries"  # `session.info` flag: the transaction wrote deliveries


def new_event_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def payload(type: EventType, data: Mapping[str, Any], at: datetime) -> str:
    """The body: ids and instants as strings (JSON has no type for either)."""
    body = {"type": type.value, "timestamp": iso_z(at), "data": _plain(data)}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return iso_z(value)
    return value


async def emit(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID,
    type: EventType,
    data: Mapping[str, Any],
    at: datetime,
) -> None:
    """Store the event and one delivery per enabled endpoint of the customer subscribed to
    `type`, in the caller's transaction; nothing when no endpoint wants it."""
    event_type = EventType(type)
    endpoints = await session.scalars(
        select(WebhookEndpoint).where(
            col(WebhookEndpoint.customer_id) == customer_id, col(WebhookEndpoint.enabled)
        )
    )
    wanted = [endpoint.id for endpoint in endpoints if subscribes(endpoint.event_types, event_type)]
    if not wanted:
        return
    event = WebhookEvent(
        id=new_event_id(),
        customer_id=customer_id,
        type=event_type.value,
        payload=payload(event_type, {"customerId": customer_id, **data}, at),
        occurred_at=at,
    )
    session.add(event)
    await session.flush()
    for endpoint_id in wanted:
        session.add(
            WebhookDelivery(
                event_id=event.id, endpoint_id=endpoint_id, next_attempt_at=at, created_at=at
            )
        )
    session.info[WAKE] = True
