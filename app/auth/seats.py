"""The caller's seat on their team, authorised for what they are about to do."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Declaration, Principal
from app.auth.roles import MemberRole, TeamAction, authorize
from app.core.db import Database
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


async def admin_named_customer(
    session: AsyncSession, principal: Principal, action: TeamAction, customer_id: uuid.UUID | None
) -> uuid.UUID:
    """As `visible_customer`, for operations where naming a customer is billing_admin's
    alone (the /admin paths to a team's own operation): a member naming even its own
    customer gets 403."""
    if customer_id is not None:
        principal.require_admin()
    return await visible_customer(session, principal, action, customer_id)


async def admit(
    db: Database, principal: Principal, declared: Declaration, *, service_name: str | None = None
) -> None:
    """What a transport checks of the caller before it reads an operation's input: may
    they call it at all, then, when the operation declares a team action, does their seat
    allow it, in a short read transaction of its own. `service_name`: as `Access.check`."""
    declared.access.check(principal, service_name=service_name)
    team = declared.seat_checked_ahead(principal)
    if team is not None:
        async with db.transaction(write=False) as session:
            await current_seat(session, principal, team)
