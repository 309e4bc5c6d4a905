"""The caller's seat on their team, authorised for what they are about to do."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.auth.roles import MemberRole, TeamAction, authorize
from app.core.errors import CustomerNotFound, NoCustomer
from app.models import Customer, Membership


@dataclass(frozen=True, slots=True)
class TeamSeat:
    """The caller's place on their team."""

    membership: Membership
    customer: Customer

    @property
    def role(self) -> MemberRole:
        return MemberRole(self.membership.role)


async def current_seat(session: AsyncSession, principal: Principal, action: TeamAction) -> TeamSeat:
    """The caller's team, authorised for `action`; callers with no team get 404."""
    membership = await session.get(Membership, principal.require_user(), populate_existing=True)
    if membership is None:
        raise NoCustomer()
    customer = await session.get(Customer, membership.customer_id, populate_existing=True)
    if customer is None:
        raise NoCustomer()
    seat = TeamSeat(membership, customer)
    authorize(seat.role, action)
    return seat


async def visible_customer(
    session: AsyncSession, principal: Principal, action: TeamAction, customer_id: uuid.UUID | None
) -> uuid.UUID:
    """The customer whose team data the caller reads: its own, authorised for `action`,
    or, for billing_admin naming one, any customer. A member naming another customer
    gets 404, so other accounts stay invisible."""
    if customer_id is not None and principal.is_billing_admin:
        if await session.get(Customer, customer_id) is None:
            raise CustomerNotFound(param="customer_id")
        return customer_id
    seat = await current_seat(session, principal, action)
    if customer_id is not None and customer_id != seat.customer.id:
        raise CustomerNotFound(param="customer_id")
    return seat.customer.id
