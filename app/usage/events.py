"""Granular usage: the ledger's events of one customer, newest first (SPEC §5.5).

A team's owner and admins see their own customer's events (the same people who see its
member list, since the events name members); billing_admin sees any customer's.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.auth.principal import Access, Principal, requires
from app.auth.roles import TeamAction
from app.auth.seats import visible_customer
from app.core.inputs import parse_unix_seconds
from app.core.pagination import Page, PageRequest
from app.models import UsageEvent
from app.usage.ledger import UsageEventType

NEWEST = 100
LIMIT_EVENTS = (UsageEventType.RATE_LIMIT.value, UsageEventType.UNIQUE_LIMIT.value)
QUOTA_EVENTS = (UsageEventType.QUOTA.value,)
EVENT_TYPES = (*LIMIT_EVENTS, *QUOTA_EVENTS)


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events: of these types (all when None), of one member, in [since, until]
    (unix seconds, both included)."""

    types: Sequence[str] | None = None
    customer_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    since: int | None = None
    until: int | None = None


# REST's answer (SPEC §5.5): the newest hundred, with how many match.
NEWEST_PAGE = PageRequest(1, NEWEST)


class EventService:
    @requires(Access.USER, team=TeamAction.LIST_MEMBERS, any_team_for_admin=True)
    async def list(
        self, session: AsyncSession, principal: Principal, *, wanted: EventFilter, page: PageRequest
    ) -> Page[UsageEvent]:
        customer_id = await visible_customer(
            session, principal, TeamAction.LIST_MEMBERS, wanted.customer_id
        )
        filters = [col(UsageEvent.customer_id) == customer_id, *_filters(wanted)]
        total = await session.scalar(select(func.count()).select_from(UsageEvent).where(*filters))
        rows = await session.scalars(
            select(UsageEvent)
            .where(*filters)
            .order_by(col(UsageEvent.seq).desc())
            .offset(page.offset)
            .limit(page.page_size)
        )
        return Page(list(rows), int(total or 0), page)


def _filters(wanted: EventFilter) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = []
    if wanted.types is not None:
        filters.append(col(UsageEvent.type).in_(wanted.types))
    if wanted.user_id is not None:
        filters.append(col(UsageEvent.user_id) == wanted.user_id)
    if wanted.since is not None:
        filters.append(col(UsageEvent.occurred_at) >= parse_unix_seconds(wanted.since, "since"))
    if wanted.until is not None:
        # `until` names a whole second: events in its fraction belong to it.
        filters.append(col(UsageEvent.occurred_at) < parse_unix_seconds(wanted.until + 1, "until"))
    return filters
