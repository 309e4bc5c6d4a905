"""A customer's webhook endpoints, their delivery log and replays: the team's own (owner,
admin), or any customer's for billing_admin, who names it (`customer_id`; naming one is
billing_admin's alone, so the transports check that role ahead, as for the /admin paths).

Registering or changing a URL resolves its name (`AddressGuard`); that happens before the
write transaction opens, as Stripe's calls do, so that a slow resolver never holds the
database's locks. Those two operations therefore open their own transactions.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.principal import Access, Principal, requires
from app.auth.roles import TeamAction
from app.auth.seats import admin_named_customer
from app.core.clock import Clock
from app.core.db import Database, affected_rows
from app.core.errors import (
    WebhookDeliveryNotFound,
    WebhookEndpointDisabled,
    WebhookEndpointLimitReached,
    WebhookEndpointNotFound,
)
from app.core.pagination import Page, PageRequest
from app.events.outgoing import WAKE
from app.models import (
    Customer,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from app.webhooks.addresses import AddressGuard
from app.webhooks.schemas import (
    AttemptView,
    DeliveryView,
    IssuedWebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointUpdate,
    new_secret,
)

ACTION = TeamAction.MANAGE_WEBHOOKS
# After a rotation the old secret signs beside the new one for this long.
ROTATION_OVERLAP = timedelta(hours=24)
_MANAGES = requires(Access.USER, team=ACTION)


class WebhookService:
    def __init__(
        self, db: Database, clock: Clock, guard: AddressGuard, *, max_endpoints: int
    ) -> None:
        self._db = db
        self._clock = clock
        self._guard = guard
        self._max_endpoints = max_endpoints

    @_MANAGES
    async def list(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        page: PageRequest,
        customer_id: uuid.UUID | None = None,
    ) -> Page[WebhookEndpoint]:
        """The caller's team's endpoints, or any customer's (`customer_id`) for
        billing_admin; oldest first."""
        visible = await admin_named_customer(session, principal, ACTION, customer_id)
        mine = col(WebhookEndpoint.customer_id) == visible
        total = await session.scalar(select(func.count()).select_from(WebhookEndpoint).where(mine))
        rows = await session.scalars(
            select(WebhookEndpoint)
            .where(mine)
            .order_by(col(WebhookEndpoint.created_at), col(WebhookEndpoint.id))
            .offset(page.offset)
            .limit(page.page_size)
        )
        return Page(list(rows), int(total or 0), page)

    @_MANAGES
    async def get(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        webhook_endpoint_id: uuid.UUID,
        customer_id: uuid.UUID | None = None,
    ) -> WebhookEndpoint:
        return await self._endpoint(session, principal, webhook_endpoint_id, customer_id)

    @_MANAGES
    async def create(
        self,
        principal: Principal,
        *,
        data: WebhookEndpointCreate,
        customer_id: uuid.UUID | None = None,
    ) -> IssuedWebhookEndpoint:
        async with self._db.transaction(write=False) as session:
            await admin_named_customer(session, principal, ACTION, customer_id)
        await self._guard.check_registration(data.url)
        async with self._db.transaction() as session:
            visible = await admin_named_customer(session, principal, ACTION, customer_id)
            await self._take_slot(session, visible)
            now, secret = self._clock(), new_secret()
            endpoint = WebhookEndpoint(
                customer_id=visible,
                url=data.url,
                description=data.description,
                event_types=data.event_types,
                enabled=data.enabled,
                secret=secret,
                created_at=now,
                updated_at=now,
            )
            session.add(endpoint)
        return IssuedWebhookEndpoint(endpoint, secret)

    @_MANAGES
    async def update(
        self,
        principal: Principal,
        *,
        webhook_endpoint_id: uuid.UUID,
        data: WebhookEndpointUpdate,
        customer_id: uuid.UUID | None = None,
    ) -> WebhookEndpoint:
        """Writes the fields given; a new URL is checked as at registration."""
        async with self._db.transaction(write=False) as session:
            await self._endpoint(session, principal, webhook_endpoint_id, customer_id)
        given = data.model_dump(include=data.model_fields_set)
        if "url" in given:
            await self._guard.check_registration(given["url"])
        async with self._db.transaction() as session:
            endpoint = await self._endpoint(session, principal, webhook_endpoint_id, customer_id)
            for name, value in given.items():
                setattr(endpoint, name, value)
            endpoint.updated_at = self._clock()
        return endpoint

    @_MANAGES
    async def rotate_secret(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        webhook_endpoint_id: uuid.UUID,
        customer_id: uuid.UUID | None = None,
    ) -> IssuedWebhookEndpoint:
        """A new secret; the old one keeps signing beside it for `ROTATION_OVERLAP`."""
        endpoint = await self._endpoint(session, principal, webhook_endpoint_id, customer_id)
        now, secret = self._clock(), new_secret()
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_until = now + ROTATION_OVERLAP
        endpoint.secret = secret
        endpoint.updated_at = now
        await session.flush()
        return IssuedWebhookEndpoint(endpoint, secret)

    @_MANAGES
    async def delete(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        webhook_endpoint_id: uuid.UUID,
        customer_id: uuid.UUID | None = None,
    ) -> None:
        """The endpoint, its pending deliveries and its log."""
        endpoint = await self._endpoint(session, principal, webhook_endpoint_id, customer_id)
        deleted = await affected_rows(
            session, delete(WebhookEndpoint).where(col(WebhookEndpoint.id) == endpoint.id)
        )
        if deleted != 1:
            raise WebhookEndpointNotFound(param="webhook_endpoint_id")
        await session.execute(
            update(Customer)
            .where(col(Customer.id) == endpoint.customer_id)
            .values(webhook_endpoint_count=col(Customer.webhook_endpoint_count) - 1)
        )

    @_MANAGES
    async def attempts(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        webhook_endpoint_id: uuid.UUID,
        page: PageRequest,
        customer_id: uuid.UUID | None = None,
    ) -> Page[AttemptView]:
        """The endpoint's delivery log: every attempt, newest first."""
        endpoint = await self._endpoint(session, principal, webhook_endpoint_id, customer_id)
        mine = col(WebhookAttempt.endpoint_id) == endpoint.id
        total = await session.scalar(select(func.count()).select_from(WebhookAttempt).where(mine))
        rows = await session.execute(
            select(
                WebhookAttempt,
                col(WebhookEvent.id),
                col(WebhookEvent.type),
                col(WebhookDelivery.manual),
            )
            .join(WebhookDelivery, col(WebhookDelivery.id) == col(WebhookAttempt.delivery_id))
            .join(WebhookEvent, col(WebhookEvent.id) == col(WebhookDelivery.event_id))
            .where(mine)
            .order_by(col(WebhookAttempt.attempted_at).desc(), col(WebhookAttempt.id))
            .offset(page.offset)
            .limit(page.page_size)
        )
        items = [AttemptView(*row) for row in rows]
        return Page(items, int(total or 0), page)

    @_MANAGES
    async def replay(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        webhook_delivery_id: uuid.UUID,
        webhook_endpoint_id: uuid.UUID | None = None,
        customer_id: uuid.UUID | None = None,
    ) -> DeliveryView:
        """A new delivery of the same event (the same `webhook-id`) to the same endpoint,
        attempted at once and once only: the original keeps its own record."""
        visible = await admin_named_customer(session, principal, ACTION, customer_id)
        found = await session.execute(
            select(WebhookDelivery, col(WebhookEvent.type), WebhookEndpoint)
            .join(WebhookEvent, col(WebhookEvent.id) == col(WebhookDelivery.event_id))
            .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
            .where(
                col(WebhookDelivery.id) == webhook_delivery_id,
                col(WebhookEndpoint.customer_id) == visible,
            )
        )
        row = found.first()
        if row is None or webhook_endpoint_id not in (None, row[2].id):
            raise WebhookDeliveryNotFound(param="webhook_delivery_id")
        original, event_type, endpoint = row
        if not endpoint.enabled:
            raise WebhookEndpointDisabled()
        now = self._clock()
        replay = WebhookDelivery(
            event_id=original.event_id,
            endpoint_id=endpoint.id,
            manual=True,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(replay)
        await session.flush()
        session.info[WAKE] = True
        return DeliveryView(replay, event_type)

    async def _endpoint(
        self,
        session: AsyncSession,
        principal: Principal,
        webhook_endpoint_id: uuid.UUID,
        customer_id: uuid.UUID | None,
    ) -> WebhookEndpoint:
        visible = await admin_named_customer(session, principal, ACTION, customer_id)
        endpoint = await session.get(WebhookEndpoint, webhook_endpoint_id, populate_existing=True)
        if endpoint is None or endpoint.customer_id != visible:
            raise WebhookEndpointNotFound(param="webhook_endpoint_id")
        return endpoint

    async def _take_slot(self, session: AsyncSession, customer_id: uuid.UUID) -> None:
        """One more endpoint, by a conditional write that concurrent requests cannot
        both pass at the cap."""
        taken = await affected_rows(
            session,
            update(Customer)
            .where(
                col(Customer.id) == customer_id,
                col(Customer.webhook_endpoint_count) < self._max_endpoints,
            )
            .values(webhook_endpoint_count=col(Customer.webhook_endpoint_count) + 1),
        )
        if taken != 1:
            raise WebhookEndpointLimitReached(
                f"A customer may have {self._max_endpoints} webhook endpoints.",
                limit=self._max_endpoints,
            )
