"""Granular usage events (SPEC §5.5): the type and the `usageEvents` resolver."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from app.core.inputs import parse_uuid
from app.core.pagination import DEFAULT_PAGE_SIZE, PageRequest
from app.graphql.context import Info
from app.graphql.enums import UsageEventType, Window
from app.graphql.scalars import unix_seconds
from app.graphql.types import Page
from app.models import UsageEvent as UsageEventRow
from app.usage.events import EventFilter


@strawberry.type(description="One consume, check of a unique limit, or quota change.")
class UsageEvent:
    user_id: strawberry.ID | None = strawberry.field(description="The member who made it.")
    customer_id: strawberry.ID | None
    service_name: str
    feature_key: str
    amount: int = strawberry.field(description="Negative for a quota's release.")
    type: UsageEventType
    allowed: bool
    timestamp: datetime
    window: Window | None

    @classmethod
    def of(cls, row: UsageEventRow) -> UsageEvent:
        return cls(
            user_id=strawberry.ID(str(row.user_id)) if row.user_id else None,
            customer_id=strawberry.ID(str(row.customer_id)) if row.customer_id else None,
            service_name=row.service_name,
            feature_key=row.feature_key,
            amount=row.amount,
            type=UsageEventType(row.type),
            allowed=row.allowed,
            timestamp=row.occurred_at,
            window=Window(row.window) if row.window else None,
        )


async def usage_events(
    info: Info,
    type: UsageEventType | None = None,
    customer_id: strawberry.ID | None = None,
    user_id: strawberry.ID | None = None,
    since: Annotated[
        datetime | None, strawberry.argument(name="from", description="Included.")
    ] = None,
    until: Annotated[
        datetime | None, strawberry.argument(name="to", description="Included.")
    ] = None,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Page[UsageEvent]:
    principal = await info.context.principal(info.context.services.events.list)
    request = PageRequest(page, page_size)
    wanted = EventFilter(
        types=[type.value] if type is not None else None,
        customer_id=parse_uuid(customer_id, "customer_id") if customer_id is not None else None,
        user_id=parse_uuid(user_id, "user_id") if user_id is not None else None,
        since=unix_seconds(since) if since is not None else None,
        until=unix_seconds(until) if until is not None else None,
    )
    async with info.context.read() as session:
        events = await info.context.services.events.list(
            session, principal, wanted=wanted, page=request
        )
    return Page.of(events, UsageEvent.of)
