"""The customer account as its own team sees it: create, view, delete, leave, transfer."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.principal import Access, PlatformRole, Principal, requires
from app.auth.roles import MemberRole, TeamAction, allows
from app.auth.seats import current_seat
from app.core import audit, invalidation, stripe_tasks
from app.core.clock import Clock
from app.core.db import affected_rows, insert_unique
from app.core.errors import (
    AlreadyInCustomer,
    Conflict,
    CustomerNotFound,
    Forbidden,
    InvalidInput,
    NotAMember,
    OwnerCannotLeave,
)
from app.customers import repository as repo
from app.customers.schemas import (
    CustomerCreate,
    CustomerDetails,
    CustomerUpdate,
    MemberView,
    OwnershipTransfer,
    TransferOwnership,
    Viewer,
)
from app.customers.team import Team
from app.events.outgoing import emit
from app.events.types import EventType
from app.models import Customer, Membership, Tier
from app.tiers.service import default_tier


async def customer_details(session: AsyncSession, customer: Customer) -> CustomerDetails:
    tier = await session.get(Tier, customer.tier_id)
    assert tier is not None
    return CustomerDetails(
        customer=customer,
        tier=tier,
        member_count=await repo.member_count(session, customer.id),
        owner_user_id=await repo.owner_of(session, customer.id),
    )


async def delete_customer(
    session: AsyncSession, customer: Customer, *, actor_id: uuid.UUID, at: datetime
) -> None:
    """Frees every member and keeps an audit record of what the account was."""
    members = await repo.member_ids(session, customer.id)
    if customer.stripe_customer_id is not None:
        stripe_tasks.enqueue(
            session,
            stripe_tasks.CANCEL_SUBSCRIPTIONS,
            at=at,
            stripe_customer_id=customer.stripe_customer_id,
        )
    await session.execute(delete(Membership).where(col(Membership.customer_id) == customer.id))
    deleted = await affected_rows(session, delete(Customer).where(col(Customer.id) == customer.id))
    if deleted != 1:
        raise CustomerNotFound()
    invalidation.invalidate(session, invalidation.CUSTOMER, customer.id)
    for user_id in members:
        invalidation.invalidate(session, invalidation.MEMBERSHIP, user_id)
    await audit.record(
        session,
        "customer.deleted",
        at=at,
        actor=actor_id,
        customer_id=customer.id,
        name=customer.name,
        email=customer.email,
        tier_id=customer.tier_id,
        stripe_customer_id=customer.stripe_customer_id,
        members=[str(user_id) for user_id in members],
    )


async def update_customer(
    session: AsyncSession,
    customer: Customer,
    data: CustomerUpdate,
    *,
    actor_id: uuid.UUID,
    at: datetime,
) -> None:
    """Writes the fields given that differ; Stripe hears of it through the outbox, so
    only if this commits."""
    given = data.columns(only=data.model_fields_set)
    changed = {name: value for name, value in given.items() if getattr(customer, name) != value}
    if not changed:
        return
    previous = {name: getattr(customer, name) for name in changed}
    for name, value in changed.items():
        setattr(customer, name, value)
    await session.flush()
    invalidation.invalidate(session, invalidation.CUSTOMER, customer.id)
    stripe_tasks.enqueue(session, stripe_tasks.UPDATE_CUSTOMER, at=at, customer_id=customer.id)
    await audit.record(
        session,
        "customer.updated",
        at=at,
        actor=actor_id,
        customer_id=customer.id,
        changes={name: {"from": previous[name], "to": value} for name, value in changed.items()},
    )


class CustomerService:
    def __init__(self, clock: Clock, team: Team, *, payments_configured: bool = False) -> None:
        self._clock = clock
        self._team = team
        self._payments_configured = payments_configured

    @requires(Access.USER)
    async def viewer(self, session: AsyncSession, principal: Principal) -> Viewer:
        """The caller, its customer and role (none, without an error, when it has no
        customer), and what its role lets it do: read from the same permission table
        the operations check."""
        user_id = principal.require_user()
        membership = await repo.membership_of(session, user_id)
        customer = await repo.find_customer(session, membership.customer_id) if membership else None
        role = MemberRole(membership.role) if membership and customer else None
        return Viewer(
            user_id=user_id,
            email=principal.email,
            platform_roles=[role for role in PlatformRole if role in principal.roles],
            customer=await customer_details(session, customer) if customer else None,
            role=role,
            can_manage_members=role is not None and allows(role, TeamAction.MANAGE_MEMBERS),
            can_manage_billing=role is not None and allows(role, TeamAction.OWNER_ONLY),
            can_manage_api_keys=True,  # every signed-in user keeps keys of their own
            can_manage_webhooks=role is not None and allows(role, TeamAction.MANAGE_WEBHOOKS),
            payments_configured=self._payments_configured,
        )

    @requires(Access.USER)
    async def create(
        self, session: AsyncSession, principal: Principal, *, data: CustomerCreate
    ) -> CustomerDetails:
        user_id = principal.require_user()
        if await repo.membership_of(session, user_id) is not None:
            raise AlreadyInCustomer()
        now = self._clock()
        tier = await default_tier(session)
        customer = Customer(**data.columns(), tier_id=tier.id, seats_used=1, created_at=now)
        session.add(customer)
        await session.flush()
        owner = Membership(
            user_id=user_id, customer_id=customer.id, role=MemberRole.OWNER, joined_at=now
        )
        if not await insert_unique(session, owner):
            raise AlreadyInCustomer()
        invalidation.invalidate(session, invalidation.MEMBERSHIP, user_id)
        stripe_tasks.enqueue(session, stripe_tasks.CREATE_CUSTOMER, at=now, customer_id=customer.id)
        await audit.record(
            session,
            "customer.created",
            at=now,
            actor=user_id,
            customer_id=customer.id,
            name=customer.name,
        )
        return CustomerDetails(customer, tier, 1, user_id)

    @requires(Access.USER, team=TeamAction.VIEW)
    async def get(self, session: AsyncSession, principal: Principal) -> CustomerDetails:
        seat = await current_seat(session, principal, TeamAction.VIEW)
        return await customer_details(session, seat.customer)

    @requires(Access.USER, team=TeamAction.EDIT_CUSTOMER)
    async def update(
        self, session: AsyncSession, principal: Principal, *, data: CustomerUpdate
    ) -> CustomerDetails:
        seat = await current_seat(session, principal, TeamAction.EDIT_CUSTOMER)
        await update_customer(
            session, seat.customer, data, actor_id=seat.membership.user_id, at=self._clock()
        )
        return await customer_details(session, seat.customer)

    @requires(Access.USER, team=TeamAction.OWNER_ONLY)
    async def delete(self, session: AsyncSession, principal: Principal) -> uuid.UUID:
        """The id of the customer deleted."""
        seat = await current_seat(session, principal, TeamAction.OWNER_ONLY)
        customer_id = seat.customer.id
        await delete_customer(
            session, seat.customer, actor_id=seat.membership.user_id, at=self._clock()
        )
        return customer_id

    @requires(Access.USER, team=TeamAction.VIEW)
    async def leave(self, session: AsyncSession, principal: Principal) -> uuid.UUID:
        """The id of the customer left."""
        seat = await current_seat(session, principal, TeamAction.VIEW)
        if seat.role is MemberRole.OWNER:
            raise OwnerCannotLeave()
        await self._team.release(
            session, seat.membership, action="member.left", actor_id=seat.membership.user_id
        )
        return seat.customer.id

    @requires(Access.USER, team=TeamAction.OWNER_ONLY)
    async def transfer_ownership(
        self, session: AsyncSession, principal: Principal, *, data: TransferOwnership
    ) -> OwnershipTransfer:
        seat = await current_seat(session, principal, TeamAction.OWNER_ONLY)
        owner_id, customer_id = seat.membership.user_id, seat.customer.id
        target = await self._target(session, customer_id, data)
        if target == owner_id:
            raise InvalidInput("You already own this customer.", param="new_owner_user_id")
        # Demote, then promote: each a conditional write, so of many concurrent transfers
        # only the one that still finds an owner goes through.
        demoted = await affected_rows(
            session,
            update(Membership)
            .where(
                col(Membership.user_id) == owner_id,
                col(Membership.customer_id) == customer_id,
                col(Membership.role) == MemberRole.OWNER,
            )
            .values(role=MemberRole.ADMIN),
        )
        if demoted != 1:
            raise Forbidden("You are no longer the owner of this customer.")
        promoted = await affected_rows(
            session,
            update(Membership)
            .where(col(Membership.user_id) == target, col(Membership.customer_id) == customer_id)
            .values(role=MemberRole.OWNER),
        )
        if promoted != 1:
            raise Conflict()
        now = self._clock()
        await audit.record(
            session,
            "customer.ownership_transferred",
            at=now,
            actor=owner_id,
            customer_id=customer_id,
            new_owner=target,
        )
        await emit(
            session,
            customer_id=customer_id,
            type=EventType.OWNERSHIP_TRANSFERRED,
            data={"newOwnerUserId": target, "previousOwnerUserId": owner_id},
            at=now,
        )
        return OwnershipTransfer(
            customer_id,
            target,
            owner_id,
            customer=await customer_details(session, seat.customer),
            new_owner=await self._member_view(session, target, MemberRole.OWNER),
            previous_owner=await self._member_view(session, owner_id, MemberRole.ADMIN),
        )

    async def _member_view(
        self, session: AsyncSession, user_id: uuid.UUID, role: MemberRole
    ) -> MemberView:
        membership = await repo.membership_of(session, user_id)
        if membership is None:
            raise Conflict()
        return replace(await repo.member_view(session, membership), role=role)

    async def _target(
        self, session: AsyncSession, customer_id: uuid.UUID, data: TransferOwnership
    ) -> uuid.UUID:
        if data.new_owner_user_id is not None:
            param = "new_owner_user_id"
            targets = await repo.member_ids(
                session, customer_id, user_id=data.new_owner_user_id, limit=2
            )
        else:
            param = "email"
            targets = await repo.member_ids(
                session, customer_id, email=str(data.email).lower(), limit=2
            )
        if not targets:
            raise NotAMember(param=param)
        if len(targets) > 1:
            # Ownership never goes to a guess: e-mails are the identity provider's claims
            # and two members may carry the same one.
            raise InvalidInput(
                "Several members have this e-mail; name the new owner by userID.", param=param
            )
        return targets[0]
