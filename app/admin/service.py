"""billing_admin operations on any customer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import Field
from sqlalchemy import ColumnElement, func, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.auth.principal import Access, Principal, requires
from app.core import audit, invalidation
from app.core.clock import Clock
from app.core.inputs import InputModel
from app.core.pagination import Page, PageRequest
from app.customers import repository as repo
from app.customers.schemas import AddMember, CustomerDetails, CustomerUpdate, MemberView
from app.customers.service import customer_details, delete_customer, update_customer
from app.customers.team import Team
from app.models import Customer, Invitation, Membership, SubscriptionStatus, Tier
from app.tiers.service import emit_tier_changed, find_tier, require_assignable


class CustomerTierChange(InputModel):
    tier_name: str = Field(min_length=1, max_length=128)


@dataclass(frozen=True, slots=True)
class CustomerSummary:
    customer: Customer
    tier_name: str
    member_count: int


class CustomerSort(StrEnum):
    """The order of the admin customer list."""

    NEWEST = "newest"
    OLDEST = "oldest"
    NAME = "name"


_ORDER: dict[CustomerSort, tuple[Any, ...]] = {
    CustomerSort.NEWEST: (col(Customer.created_at).desc(), col(Customer.id)),
    CustomerSort.OLDEST: (col(Customer.created_at), col(Customer.id)),
    CustomerSort.NAME: (func.lower(col(Customer.name)), col(Customer.id)),
}
DEFAULT_SORT = CustomerSort.NEWEST
MAX_SEARCH = 200


def _matching(search: str) -> ColumnElement[bool]:
    """Customers whose name or e-mail holds `search` (any case), or whose id it is."""
    term = search.strip()[:MAX_SEARCH]
    found = or_(
        col(Customer.name).icontains(term, autoescape=True),
        col(Customer.email).icontains(term, autoescape=True),
    )
    try:
        return or_(found, col(Customer.id) == uuid.UUID(term))
    except ValueError:
        return found


class AdminService:
    def __init__(self, clock: Clock, team: Team) -> None:
        self._clock = clock
        self._team = team

    @requires(Access.ADMIN)
    async def list_customers(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        page: PageRequest,
        tier_name: str | None = None,
        status: SubscriptionStatus | None = None,
        search: str | None = None,
        sort: CustomerSort | None = None,
    ) -> Page[CustomerSummary]:
        filters: list[ColumnElement[bool]] = []
        if search:
            filters.append(_matching(search))
        if tier_name is not None:
            filters.append(col(Customer.tier_id) == (await find_tier(session, tier_name)).id)
        if status is not None:
            filters.append(col(Customer.subscription_status) == status)
        total = await session.scalar(select(func.count()).select_from(Customer).where(*filters))
        members = (
            select(func.count())
            .where(col(Membership.customer_id) == col(Customer.id))
            .correlate(Customer)
            .scalar_subquery()
        )
        rows = await session.execute(
            select(Customer, Tier.name, members)
            .join(Tier, col(Tier.id) == col(Customer.tier_id))
            .where(*filters)
            .order_by(*_ORDER[sort or DEFAULT_SORT])
            .offset(page.offset)
            .limit(page.page_size)
        )
        items = [CustomerSummary(customer, name, count) for customer, name, count in rows]
        return Page(items, int(total or 0), page)

    @requires(Access.ADMIN)
    async def get_customer(
        self, session: AsyncSession, principal: Principal, *, customer_id: uuid.UUID
    ) -> CustomerDetails:
        return await customer_details(session, await repo.customer_by_id(session, customer_id))

    @requires(Access.ADMIN)
    async def delete_customer(
        self, session: AsyncSession, principal: Principal, *, customer_id: uuid.UUID
    ) -> None:
        actor = principal.require_user()
        customer = await repo.customer_by_id(session, customer_id)
        await delete_customer(session, customer, actor_id=actor, at=self._clock())

    @requires(Access.ADMIN)
    async def list_members(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        customer_id: uuid.UUID,
        page: PageRequest,
    ) -> Page[MemberView]:
        await repo.customer_by_id(session, customer_id)
        return await repo.member_page(session, customer_id, page)

    @requires(Access.ADMIN)
    async def add_member(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        customer_id: uuid.UUID,
        data: AddMember,
    ) -> MemberView | Invitation:
        actor = principal.require_user()
        customer = await repo.customer_by_id(session, customer_id)
        return await self._team.add(session, customer, actor=None, actor_id=actor, data=data)

    @requires(Access.ADMIN)
    async def remove_member(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        customer_id: uuid.UUID,
        user_id: uuid.UUID,
    ) -> CustomerDetails:
        """The customer as the removal left it."""
        actor = principal.require_user()
        customer = await repo.customer_by_id(session, customer_id)
        await self._team.remove(session, customer_id, actor=None, actor_id=actor, user_id=user_id)
        return await customer_details(session, customer)

    @requires(Access.ADMIN)
    async def update_customer(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        customer_id: uuid.UUID,
        data: CustomerUpdate,
    ) -> CustomerDetails:
        actor = principal.require_admin()
        customer = await repo.customer_by_id(session, customer_id)
        await update_customer(session, customer, data, actor_id=actor, at=self._clock())
        return await customer_details(session, customer)

    @requires(Access.ADMIN)
    async def set_customer_tier(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        customer_id: uuid.UUID,
        data: CustomerTierChange,
    ) -> CustomerDetails:
        actor = principal.require_user()
        customer = await repo.customer_by_id(session, customer_id)
        tier = await find_tier(session, data.tier_name)
        require_assignable(tier)
        previous = customer.tier_id
        customer.tier_id = tier.id
        await session.flush()
        invalidation.invalidate(session, invalidation.CUSTOMER, customer_id)
        now = self._clock()
        await audit.record(
            session,
            "customer.tier_changed",
            at=now,
            actor=actor,
            customer_id=customer_id,
            previous_tier_id=previous,
            tier_id=tier.id,
        )
        if previous != tier.id:
            await emit_tier_changed(session, customer_id, previous, tier.id, at=now, source="admin")
        return await customer_details(session, customer)
