"""Outgoing webhooks: the types, the queries and the mutations.

Every operation takes an optional `customerId`: billing_admin names any customer with it;
a member may name only their own (or leave it out), as with `usageEvents`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry

from app.core.inputs import parse_input, parse_uuid
from app.core.pagination import DEFAULT_PAGE_SIZE, PageRequest
from app.graphql.arguments import present
from app.graphql.context import Info
from app.graphql.enums import AttemptStatus, DeliveryStatus
from app.graphql.types import Page
from app.models import WebhookEndpoint as WebhookEndpointRow
from app.webhooks.schemas import (
    CATALOGUE,
    AttemptView,
    DeliveryView,
    WebhookEndpointCreate,
    WebhookEndpointUpdate,
)
from app.webhooks.schemas import (
    IssuedWebhookEndpoint as IssuedWebhookEndpointResult,
)


def _id(value: object) -> strawberry.ID:
    return strawberry.ID(str(value))


def _customer(customer_id: object | None) -> uuid.UUID | None:
    """The customer a field names (billing_admin's), parsed once the caller is known."""
    return parse_uuid(str(customer_id), "customer_id") if customer_id is not None else None


@strawberry.type(description="One request made to a webhook endpoint (the delivery log).")
class WebhookAttempt:
    id: strawberry.ID
    delivery_id: strawberry.ID
    event_id: str = strawberry.field(description="The `webhook-id` the receiver saw.")
    event_type: str
    manual: bool = strawberry.field(description="Whether it was a replay asked for by hand.")
    attempted_at: datetime
    status: AttemptStatus
    latency_ms: int
    response_status: int | None
    response_excerpt: str | None = strawberry.field(
        description="At most the first 256 bytes of the answer."
    )
    error: str | None

    @classmethod
    def of(cls, view: AttemptView) -> WebhookAttempt:
        row = view.attempt
        return cls(
            id=_id(row.id),
            delivery_id=_id(row.delivery_id),
            event_id=view.event_id,
            event_type=view.event_type,
            manual=view.manual,
            attempted_at=row.attempted_at,
            status=view.status,
            latency_ms=row.latency_ms,
            response_status=row.response_status,
            response_excerpt=row.response_excerpt,
            error=row.error,
        )


async def _delivery_attempts(
    root: strawberry.Parent[WebhookEndpoint],
    info: Info,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Page[WebhookAttempt]:
    named = root.customer_id if root.admin_view else None
    return await _attempts(info, root.id, named, page, page_size)


@strawberry.type(description="Where a customer's events are sent, signed with its secret.")
class WebhookEndpoint:
    id: strawberry.ID
    customer_id: strawberry.ID
    url: str
    description: str
    event_types: list[str] = strawberry.field(description='The types sent; "*" is every type.')
    enabled: bool
    created_at: datetime
    updated_at: datetime
    # Reached by billing_admin naming the customer: its log is read the same way. Not
    # annotated, so neither a dataclass field nor one of the schema's.
    admin_view = False

    delivery_attempts: Page[WebhookAttempt] = strawberry.field(
        resolver=_delivery_attempts, description="The delivery log: every attempt, newest first."
    )

    @classmethod
    def of(cls, row: WebhookEndpointRow, *, admin_view: bool = False) -> WebhookEndpoint:
        endpoint = cls(
            id=_id(row.id),
            customer_id=_id(row.customer_id),
            url=row.url,
            description=row.description,
            event_types=list(row.event_types),
            enabled=row.enabled,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
        endpoint.admin_view = admin_view
        return endpoint


@strawberry.type(description="A webhook endpoint with its signing secret, shown only this once.")
class IssuedWebhookEndpoint:
    webhook_endpoint: WebhookEndpoint
    secret: str = strawberry.field(description="Standard Webhooks' `whsec_...`.")

    @classmethod
    def of(
        cls, issued: IssuedWebhookEndpointResult, *, admin_view: bool = False
    ) -> IssuedWebhookEndpoint:
        endpoint = WebhookEndpoint.of(issued.endpoint, admin_view=admin_view)
        return cls(webhook_endpoint=endpoint, secret=issued.secret)


@strawberry.type(description="One event to one endpoint: its attempts so far, and what is next.")
class WebhookDelivery:
    id: strawberry.ID
    webhook_endpoint_id: strawberry.ID
    event_id: str
    event_type: str
    status: DeliveryStatus
    manual: bool
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, view: DeliveryView) -> WebhookDelivery:
        row = view.delivery
        return cls(
            id=_id(row.id),
            webhook_endpoint_id=_id(row.endpoint_id),
            event_id=row.event_id,
            event_type=view.event_type,
            status=DeliveryStatus(row.status),
            manual=row.manual,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_attempt_at=row.last_attempt_at,
            created_at=row.created_at,
        )


@strawberry.type(description="The webhook endpoint deleted, with its pending deliveries and log.")
class WebhookEndpointDeletion:
    deleted_webhook_endpoint_id: strawberry.ID


async def endpoints_page(
    info: Info, named: object | None, page: int, page_size: int
) -> Page[WebhookEndpoint]:
    """`named`: the customer billing_admin names, as given (an id or a string)."""
    webhooks = info.context.services.webhooks
    principal = await info.context.principal(webhooks.list, as_admin=named is not None)
    customer_id, request = _customer(named), PageRequest(page, page_size)
    async with info.context.read() as session:
        rows = await webhooks.list(session, principal, page=request, customer_id=customer_id)
    return Page.of(rows, lambda row: WebhookEndpoint.of(row, admin_view=customer_id is not None))


async def _attempts(
    info: Info, endpoint: object, named: object | None, page: int, page_size: int
) -> Page[WebhookAttempt]:
    webhooks = info.context.services.webhooks
    principal = await info.context.principal(webhooks.attempts, as_admin=named is not None)
    endpoint_id = parse_uuid(str(endpoint), "webhook_endpoint_id")
    customer_id, request = _customer(named), PageRequest(page, page_size)
    async with info.context.read() as session:
        rows = await webhooks.attempts(
            session,
            principal,
            webhook_endpoint_id=endpoint_id,
            page=request,
            customer_id=customer_id,
        )
    return Page.of(rows, WebhookAttempt.of)


# Queries


async def webhook_endpoints(
    info: Info,
    customer_id: strawberry.ID | None = None,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Page[WebhookEndpoint]:
    return await endpoints_page(info, customer_id, page, page_size)


async def webhook_endpoint(
    info: Info, webhook_endpoint_id: strawberry.ID, customer_id: strawberry.ID | None = None
) -> WebhookEndpoint:
    webhooks = info.context.services.webhooks
    principal = await info.context.principal(webhooks.get, as_admin=customer_id is not None)
    endpoint_id = parse_uuid(webhook_endpoint_id, "webhook_endpoint_id")
    customer = _customer(customer_id)
    async with info.context.read() as session:
        row = await webhooks.get(
            session, principal, webhook_endpoint_id=endpoint_id, customer_id=customer
        )
    return WebhookEndpoint.of(row, admin_view=customer is not None)


async def webhook_delivery_attempts(
    info: Info,
    webhook_endpoint_id: strawberry.ID,
    customer_id: strawberry.ID | None = None,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Page[WebhookAttempt]:
    return await _attempts(info, webhook_endpoint_id, customer_id, page, page_size)


# Mutations


async def create_webhook_endpoint(
    info: Info,
    url: str,
    event_types: Annotated[
        list[str] | None,
        strawberry.argument(
            description=f'Some of: {CATALOGUE}; or "*" (the default) for every type.'
        ),
    ] = None,
    description: str | None = None,
    enabled: bool | None = None,
    customer_id: strawberry.ID | None = None,
) -> IssuedWebhookEndpoint:
    webhooks = info.context.services.webhooks
    principal = await info.context.principal(webhooks.create, as_admin=customer_id is not None)
    customer = _customer(customer_id)
    given = present(url=url, eventTypes=event_types, description=description, enabled=enabled)
    data = parse_input(WebhookEndpointCreate, given)
    issued = await webhooks.create(principal, data=data, customer_id=customer)
    return IssuedWebhookEndpoint.of(issued, admin_view=customer is not None)


async def update_webhook_endpoint(
    info: Info,
    webhook_endpoint_id: strawberry.ID,
    url: str | None = None,
    event_types: list[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
    customer_id: strawberry.ID | None = None,
) -> WebhookEndpoint:
    webhooks = info.context.services.webhooks
    principal = await info.context.principal(webhooks.update, as_admin=customer_id is not None)
    endpoint_id = parse_uuid(webhook_endpoint_id, "webhook_endpoint_id")
    customer = _customer(customer_id)
    given = present(url=url, eventTypes=event_types, description=description, enabled=enabled)
    data = parse_input(WebhookEndpointUpdate, given)
    row = await webhooks.update(
        principal, webhook_endpoint_id=endpoint_id, data=data, customer_id=customer
    )
    return WebhookEndpoint.of(row, admin_view=customer is not None)


async def rotate_webhook_endpoint_secret(
    info: Info, webhook_endpoint_id: strawberry.ID, customer_id: strawberry.ID | None = None
) -> IssuedWebhookEndpoint:
    webhooks = info.context.services.webhooks
    principal = await info.context.principal(
        webhooks.rotate_secret, as_admin=customer_id is not None
    )
    endpoint_id = parse_uuid(webhook_endpoint_id, "webhook_endpoint_id")
    customer = _customer(customer_id)
    async with info.context.write() as session:
        issued = await webhooks.rotate_secret(
            session, principal, webhook_endpoint_id=endpoint_id, customer_id=customer
        )
    return IssuedWebhookEndpoint.of(issued, admin_view=customer is not None)


async def delete_webhook_endpoint(
    info: Info, webhook_endpoint_id: strawberry.ID, customer_id: strawberry.ID | None = None
) -> WebhookEndpointDeletion:
    webhooks = info.context.services.webhooks
    principal = await info.context.principal(webhooks.delete, as_admin=customer_id is not None)
    endpoint_id = parse_uuid(webhook_endpoint_id, "webhook_endpoint_id")
    customer = _customer(customer_id)
    async with info.context.write() as session:
        await webhooks.delete(
            session, principal, webhook_endpoint_id=endpoint_id, customer_id=customer
        )
    return WebhookEndpointDeletion(deleted_webhook_endpoint_id=_id(endpoint_id))


async def replay_webhook_delivery(
    info: Info, webhook_delivery_id: strawberry.ID, customer_id: strawberry.ID | None = None
) -> WebhookDelivery:
    webhooks = info.context.services.webhooks
    principal = await info.context.principal(webhooks.replay, as_admin=customer_id is not None)
    delivery_id = parse_uuid(webhook_delivery_id, "webhook_delivery_id")
    customer = _customer(customer_id)
    async with info.context.write() as session:
        delivery = await webhooks.replay(
            session, principal, webhook_delivery_id=delivery_id, customer_id=customer
        )
    return WebhookDelivery.of(delivery)
