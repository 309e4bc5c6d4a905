"""The team as its owner and admins manage it."""

from __future__ import annotations

import builtins
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Access, Principal, requires
from app.auth.roles import TeamAction
from app.auth.seats import current_seat, visible_customer
from app.core.pagination import Page, PageRequest
from app.customers import repository as repo
from app.customers.schemas import AddMember, ChangeMemberRole, CustomerDetails, MemberView
from app.customers.service import customer_details
from app.customers.team import Team
from app.models import Invitation


class MemberService:
    def __init__(self, team: Team) -> None:
        self._team = team

    @requires(Access.USER, team=TeamAction.LIST_MEMBERS, any_team_for_admin=True)
    async def list(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        page: PageRequest,
        customer_id: uuid.UUID | None = None,
    ) -> Page[MemberView]:
        """The caller's team, or any (`customer_id`) for billing_admin."""
        visible = await visible_customer(session, principal, TeamAction.LIST_MEMBERS, customer_id)
        return await repo.member_page(session, visible, page)

    @requires(Access.USER, team=TeamAction.MANAGE_MEMBERS)
    async def add(
        self, session: AsyncSession, principal: Principal, *, data: AddMember
    ) -> MemberView | Invitation:
        seat = await current_seat(session, principal, TeamAction.MANAGE_MEMBERS)
        return await self._team.add(
            session, seat.customer, actor=seat.role, actor_id=seat.membership.user_id, data=data
        )

    @requires(Access.USER, team=TeamAction.MANAGE_MEMBERS)
    async def change_role(
        self, session: AsyncSession, principal: Principal, *, data: ChangeMemberRole
    ) -> MemberView:
        seat = await current_seat(session, principal, TeamAction.MANAGE_MEMBERS)
        return await self._team.change_role(
            session,
            seat.customer.id,
            actor=seat.role,
            actor_id=seat.membership.user_id,
            user_id=data.user_id,
            role=data.role,
        )

    @requires(Access.USER, team=TeamAction.MANAGE_MEMBERS)
    async def remove(
        self, session: AsyncSession, principal: Principal, *, user_id: uuid.UUID
    ) -> CustomerDetails:
        """The customer as the removal left it."""
        seat = await current_seat(session, principal, TeamAction.MANAGE_MEMBERS)
        await self._team.remove(
            session,
            seat.customer.id,
            actor=seat.role,
            actor_id=seat.membership.user_id,
            user_id=user_id,
        )
        return await customer_details(session, seat.customer)

    @requires(Access.USER, team=TeamAction.LIST_MEMBERS, any_team_for_admin=True)
    async def invitations(
        self, session: AsyncSession, principal: Principal, *, customer_id: uuid.UUID | None = None
    ) -> builtins.list[Invitation]:
        """The caller's team's, or any team's (`customer_id`) for billing_admin."""
        visible = await visible_customer(session, principal, TeamAction.LIST_MEMBERS, customer_id)
        return await self._team.pending_invitations(session, visible)

    @requires(Access.USER, team=TeamAction.MANAGE_MEMBERS)
    async def revoke_invitation(
        self, session: AsyncSession, principal: Principal, *, invitation_id: uuid.UUID
    ) -> CustomerDetails:
        """The customer as the revocation left it."""
        seat = await current_seat(session, principal, TeamAction.MANAGE_MEMBERS)
        await self._team.revoke_invitation(
            session,
            seat.customer.id,
            actor_id=seat.membership.user_id,
            invitation_id=invitation_id,
        )
        return await customer_details(session, seat.customer)
