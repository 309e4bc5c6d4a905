"""Membership changes of one customer.

Shared by the team's own owner and admins and by billing_admin, who acts from outside
the team (`actor` None): the seat limit, the one-customer-per-user rule and the owner's
protection apply to both.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.roles import MemberRole, check_grantable, check_outranks
from app.auth.users import ensure_user
from app.core import audit, invalidation
from app.core.clock import Clock
from app.core.db import affected_rows, insert_unique
from app.core.errors import (
    AlreadyInCustomer,
    AlreadyInvited,
    Conflict,
    InvitationNotFound,
    MemberLimitReached,
    MemberNotFound,
)
from app.customers import repository as repo
from app.customers.schemas import AddMember, MemberView
from app.events.outgoing import emit
from app.events.types import EventType
from app.models import Customer, Invitation, Membership, Tier


class Team:
    def __init__(self, clock: Clock, invitation_ttl: timedelta) -> None:
        self._clock = clock
        self._invitation_ttl = invitation_ttl

    async def add(
        self,
        session: AsyncSession,
        customer: Customer,
        *,
        actor: MemberRole | None,
        actor_id: uuid.UUID,
        data: AddMember,
    ) -> MemberView | Invitation:
        check_grantable(actor, data.role)
        await repo.expire_invitations(session, customer.id, self._clock())
        if data.user_id is not None:
            return await self._add_user(session, customer, actor_id, data.user_id, data.role)
        assert data.email is not None
        return await self._invite(session, customer, actor_id, data.email.lower(), data.role)

    async def _add_user(
        self,
        session: AsyncSession,
        customer: Customer,
        actor_id: uuid.UUID,
        user_id: uuid.UUID,
        role: MemberRole,
    ) -> MemberView:
        now = self._clock()
        await ensure_user(session, user_id, None, now)
        if await repo.membership_of(session, user_id) is not None:
            raise AlreadyInCustomer(param="user_id")
        await self._take_seat(session, customer)
        membership = Membership(user_id=user_id, customer_id=customer.id, role=role, joined_at=now)
        if not await insert_unique(session, membership):
            raise AlreadyInCustomer(param="user_id")
        invalidation.invalidate(session, invalidation.MEMBERSHIP, user_id)
        await audit.record(
            session,
            "member.added",
            at=now,
            actor=actor_id,
            customer_id=customer.id,
            user_id=user_id,
            role=role.value,
        )
        await emit(
            session,
            customer_id=customer.id,
            type=EventType.MEMBER_ADDED,
            data={"userId": user_id, "role": role.value, "actorUserId": actor_id},
            at=now,
        )
        return await repo.member_view(session, membership)

    async def _invite(
        self,
        session: AsyncSession,
        customer: Customer,
        actor_id: uuid.UUID,
        email: str,
        role: MemberRole,
    ) -> Invitation:
        now = self._clock()
        if await repo.member_ids(session, customer.id, email=email, limit=1):
            raise AlreadyInCustomer(param="email")
        if await repo.pending_invitation(session, customer.id, email) is not None:
            raise AlreadyInvited(param="email")
        await self._take_seat(session, customer)
        invitation = Invitation(
            customer_id=customer.id,
            email=email,
            role=role,
            invited_by=actor_id,
            created_at=now,
            expires_at=now + self._invitation_ttl,
        )
        if not await insert_unique(session, invitation):
            raise AlreadyInvited(param="email")
        invalidation.invalidate(session, invalidation.INVITATION, email)
        await audit.record(
            session,
            "invitation.created",
            at=now,
            actor=actor_id,
            customer_id=customer.id,
            email=email,
            role=role.value,
        )
        return invitation

    async def _take_seat(self, session: AsyncSession, customer: Customer) -> None:
        """The owner, members and pending invitations all hold a seat of the tier (expired
        invitations were released by `add`)."""
        tier = await session.get(Tier, customer.tier_id)
        assert tier is not None
        if not await repo.take_seat(session, customer.id, tier.member_limit):
            # What an upgrade prompt shows: the limit, the tier, and the seats taken now.
            raise MemberLimitReached(
                f"The {tier.display_name} tier allows {tier.member_limit} members, "
                "counting the owner and pending invitations.",
                limit=tier.member_limit,
                tierName=tier.name,
                seatsUsed=await repo.seats_used(session, customer.id),
            )

    async def change_role(
        self,
        session: AsyncSession,
        customer_id: uuid.UUID,
        *,
        actor: MemberRole | None,
        actor_id: uuid.UUID,
        user_id: uuid.UUID,
        role: MemberRole,
    ) -> MemberView:
        membership = await self._member(session, customer_id, user_id)
        current = MemberRole(membership.role)
        check_outranks(actor, current)
        check_grantable(actor, role)
        changed = await affected_rows(
            session,
            update(Membership)
            .where(col(Membership.user_id) == user_id, col(Membership.role) == current)
            .values(role=role),
        )
        if changed != 1:
            raise Conflict()
        membership.role = role
        now = self._clock()
        await audit.record(
            session,
            "member.role_changed",
            at=now,
            actor=actor_id,
            customer_id=customer_id,
            user_id=user_id,
            role=role.value,
        )
        await emit(
            session,
            customer_id=customer_id,
            type=EventType.MEMBER_ROLE_CHANGED,
            data={
                "userId": user_id,
                "role": role.value,
                "previousRole": current.value,
                "actorUserId": actor_id,
            },
            at=now,
        )
        return await repo.member_view(session, membership)

    async def remove(
        self,
        session: AsyncSession,
        customer_id: uuid.UUID,
        *,
        actor: MemberRole | None,
        actor_id: uuid.UUID,
        user_id: uuid.UUID,
    ) -> None:
        membership = await self._member(session, customer_id, user_id)
        check_outranks(actor, MemberRole(membership.role))
        await self.release(session, membership, action="member.removed", actor_id=actor_id)

    async def release(
        self, session: AsyncSession, membership: Membership, *, action: str, actor_id: uuid.UUID
    ) -> None:
        """Delete the membership and free its seat, once, however many requests race."""
        deleted = await affected_rows(
            session,
            delete(Membership).where(
                col(Membership.user_id) == membership.user_id,
                col(Membership.customer_id) == membership.customer_id,
                col(Membership.role) == membership.role,
            ),
        )
        if deleted != 1:
            raise MemberNotFound()
        await repo.release_seats(session, membership.customer_id)
        invalidation.invalidate(session, invalidation.MEMBERSHIP, membership.user_id)
        now = self._clock()
        await audit.record(
            session,
            action,
            at=now,
            actor=actor_id,
            customer_id=membership.customer_id,
            user_id=membership.user_id,
        )
        await emit(
            session,
            customer_id=membership.customer_id,
            type=EventType.MEMBER_REMOVED,
            data={
                "userId": membership.user_id,
                "role": membership.role,
                "reason": "left" if action == "member.left" else "removed",
                "actorUserId": actor_id,
            },
            at=now,
        )

    async def revoke_invitation(
        self,
        session: AsyncSession,
        customer_id: uuid.UUID,
        *,
        actor_id: uuid.UUID,
        invitation_id: uuid.UUID,
    ) -> None:
        invitation = await session.get(Invitation, invitation_id)
        if (
            invitation is None
            or invitation.customer_id != customer_id
            or not await repo.claim_invitation(session, invitation_id, "revoked")
        ):
            raise InvitationNotFound()
        await repo.release_seats(session, customer_id)
        await audit.record(
            session,
            "invitation.revoked",
            at=self._clock(),
            actor=actor_id,
            customer_id=customer_id,
            email=invitation.email,
        )

    async def pending_invitations(
        self, session: AsyncSession, customer_id: uuid.UUID
    ) -> list[Invitation]:
        now = self._clock()
        return [
            invitation
            for invitation in await repo.pending_invitations(session, customer_id)
            if invitation.expires_at > now
        ]

    async def _member(
        self, session: AsyncSession, customer_id: uuid.UUID, user_id: uuid.UUID
    ) -> Membership:
        membership = await repo.membership_of(session, user_id)
        if membership is None or membership.customer_id != customer_id:
            raise MemberNotFound()
        return membership
