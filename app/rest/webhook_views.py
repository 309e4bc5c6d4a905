"""JSON shapes of webhook endpoints, their delivery log and replays."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from typing_extensions import TypedDict

from app.core.clock import iso_z
from app.core.pagination import Page
from app.models import DeliveryStatus, WebhookEndpoint
from app.rest.views import PaginationOut, pagination
from app.webhooks.schemas import AttemptStatus, AttemptView, DeliveryView, IssuedWebhookEndpoint


class WebhookEndpointOut(TypedDict):
    id: str
    customerId: str
    url: str
    description: str
    eventTypes: Annotated[list[str], Field(description='The types sent; "*" is every type')]
    enabled: bool
    createdAt: str
    updatedAt: str


class IssuedWebhookEndpointOut(WebhookEndpointOut):
    secret: Annotated[str, Field(description="The signing secret (whsec_...), shown only here")]


class WebhookEndpointsPageOut(TypedDict):
    webhooks: list[WebhookEndpointOut]
    pagination: PaginationOut
    items: int
    pages: int


class WebhookAttemptOut(TypedDict):
    id: str
    deliveryId: str
    eventId: Annotated[str, Field(description="The webhook-id the receiver saw")]
    eventType: str
    manual: Annotated[bool, Field(description="Whether it was a replay asked for by hand")]
    attemptedAt: str
    status: AttemptStatus
    latencyMs: int
    responseStatus: int | None
    responseExcerpt: Annotated[str | None, Field(description="At most the first 256 bytes")]
    error: str | None


class WebhookAttemptsPageOut(TypedDict):
    attempts: list[WebhookAttemptOut]
    pagination: PaginationOut
    items: int
    pages: int


class WebhookDeliveryOut(TypedDict):
    id: str
    endpointId: str
    eventId: str
    eventType: str
    status: DeliveryStatus
    manual: bool
    attempts: int
    nextAttemptAt: str | None
    lastAttemptAt: str | None
    createdAt: str


def webhook_endpoint(row: WebhookEndpoint) -> WebhookEndpointOut:
    return {
        "id": str(row.id),
        "customerId": str(row.customer_id),
        "url": row.url,
        "description": row.description,
        "eventTypes": list(row.event_types),
        "enabled": row.enabled,
        "createdAt": iso_z(row.created_at) or "",
        "updatedAt": iso_z(row.updated_at) or "",
    }


def issued_webhook_endpoint(issued: IssuedWebhookEndpoint) -> IssuedWebhookEndpointOut:
    return {**webhook_endpoint(issued.endpoint), "secret": issued.secret}


def webhook_endpoints_page(page: Page[WebhookEndpoint]) -> WebhookEndpointsPageOut:
    return {
        "webhooks": [webhook_endpoint(row) for row in page.items],
        "pagination": pagination(page),
        "items": page.total_count,
        "pages": page.total_pages,
    }


def webhook_attempt(view: AttemptView) -> WebhookAttemptOut:
    row = view.attempt
    return {
        "id": str(row.id),
        "deliveryId": str(row.delivery_id),
        "eventId": view.event_id,
        "eventType": view.event_type,
        "manual": view.manual,
        "attemptedAt": iso_z(row.attempted_at) or "",
        "status": view.status,
        "latencyMs": row.latency_ms,
        "responseStatus": row.response_status,
        "responseExcerpt": row.response_excerpt,
        "error": row.error,
    }


def webhook_attempts_page(page: Page[AttemptView]) -> WebhookAttemptsPageOut:
    return {
        "attempts": [webhook_attempt(view) for view in page.items],
        "pagination": pagination(page),
        "items": page.total_count,
        "pages": page.total_pages,
    }


def webhook_delivery(view: DeliveryView) -> WebhookDeliveryOut:
    row = view.delivery
    return {
        "id": str(row.id),
        "endpointId": str(row.endpoint_id),
        "eventId": row.event_id,
        "eventType": view.event_type,
        "status": DeliveryStatus(row.status),
        "manual": row.manual,
        "attempts": row.attempts,
        "nextAttemptAt": iso_z(row.next_attempt_at),
        "lastAttemptAt": iso_z(row.last_attempt_at),
        "createdAt": iso_z(row.created_at) or "",
    }
