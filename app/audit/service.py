"""Reading the audit trail, newest first.

A team's owner and admins read their own customer's trail; billing_admin reads any
customer's, a deleted one's included (the trail outlives the account), and the platform's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.auth.principal import Access, Principal, requires
from app.auth.roles import TeamAction
from app.auth.seats import visible_customer
from app.core.audit import PLATFORM_CHAIN, chain_key
from app.core.errors import CustomerNotFound, InvalidInput
from app.core.inputs import parse_unix_seconds
from app.core.pagination import Page, PageRequest
from app.models import AuditChain, AuditEvent, Customer

MAX_ACTION = 64
# An action filter ending in this is a prefix: `member.` is every member action.
PREFIX_END = "."


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which records: of an action (or the actions a prefix ending in `.` starts), by an
    actor, in [since, until] (unix seconds, both included)."""

    action: str | None = None
    actor_user_id: uuid.UUID | None = None
    since: int | None = None
    until: int | None = None

    def __post_init__(self) -> None:
        if self.action is not None and (
            not 0 < len(self.action) <= MAX_ACTION or "\x00" in self.action
        ):
            raise InvalidInput(
                f"{{param}} must be an action or a prefix of one, at most {MAX_ACTION} characters.",
                param="action",
            )


class AuditService:
    @requires(Access.USER, team=TeamAction.READ_AUDIT, any_team_for_admin=True)
    async def trail(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        wanted: AuditFilter,
        page: PageRequest,
        customer_id: uuid.UUID | None = None,
    ) -> Page[AuditEvent]:
        """The caller's customer's trail, or any customer's (`customer_id`) for
        billing_admin."""
        visible = await visible_customer(session, principal, TeamAction.READ_AUDIT, customer_id)
        return await _page(session, chain_key(visible), wanted, page)

    @requires(Access.ADMIN)
    async def customer_trail(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        customer_id: uuid.UUID,
        wanted: AuditFilter,
        page: PageRequest,
    ) -> Page[AuditEvent]:
        """Any customer's trail, also once the customer is deleted."""
        chain = chain_key(customer_id)
        if (
            await session.get(Customer, customer_id) is None
            and await session.get(AuditChain, chain) is None
        ):
            raise CustomerNotFound(param="customer_id")
        return await _page(session, chain, wanted, page)

    @requires(Access.ADMIN)
    async def platform_trail(
        self, session: AsyncSession, principal: Principal, *, wanted: AuditFilter, page: PageRequest
    ) -> Page[AuditEvent]:
        """The records of no customer: catalog and tier changes, API keys of users with
        no customer."""
        return await _page(session, PLATFORM_CHAIN, wanted, page)


async def _page(
    session: AsyncSession, chain: str, wanted: AuditFilter, page: PageRequest
) -> Page[AuditEvent]:
    filters = [col(AuditEvent.chain_key) == chain, *_filters(wanted)]
    total = await session.scalar(select(func.count()).select_from(AuditEvent).where(*filters))
    rows = await session.scalars(
        select(AuditEvent)
        .where(*filters)
        .order_by(col(AuditEvent.seq).desc())
        .offset(page.offset)
        .limit(page.page_size)
    )
    return Page(list(rows), int(total or 0), page)


def _filters(wanted: AuditFilter) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = []
    action = wanted.action
    if action is not None:
        if action.endswith(PREFIX_END):
            # Not LIKE: SQLite's ignores case, and `_` would be a wildcard.
            prefix = func.substr(col(AuditEvent.action), 1, len(action))
            filters.append(prefix == action)
        else:
            filters.append(col(AuditEvent.action) == action)
    if wanted.actor_user_id is not None:
        filters.append(col(AuditEvent.actor_user_id) == wanted.actor_user_id)
    if wanted.since is not None:
        filters.append(col(AuditEvent.occurred_at) >= parse_unix_seconds(wanted.since, "since"))
    if wanted.until is not None:
        # `until` names a whole second: records in its fraction belong to it.
        moment = parse_unix_seconds(wanted.until + 1, "until")
        filters.append(col(AuditEvent.occurred_at) < moment)
    return filters
