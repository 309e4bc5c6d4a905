"""billing_admin operations on any customer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pydantic import Field
from sqlalchemy import ColumnElement, func
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
from app.tiers.service import find_tier, require_assignable


class CustomerTierChange(InputModel):
    tier_name: str = Field(min_length=1, max_length=128)


@dataclass(frozen=True, slots=True)
class CustomerSummary:
    customer: Customer
    tier_name: str
    member_count: int


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
    ) -> Page[CustomerSummary]:
        filters: list[ColumnElement[bool]] = []
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
            .order_by(col(Customer.created_at).desc(), col(Customer.id))
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
    ) -> None:
        actor = principal.require_user()
        await repo.customer_by_id(session, customer_id)
        await self._team.remove(session, customer_id, actor=None, actor_id=actor, user_id=user_id)

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
        audit.record(
            session,
            "customer.tier_changed",
            at=self._clock(),
            actor=actor,
            customer_id=customer_id,
            previous_tier_id=previous,
            tier_id=tier.id,
        )
        return await customer_details(session, customer)
