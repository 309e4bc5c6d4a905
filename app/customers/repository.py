"""Queries of customers, memberships and invitations."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.auth.roles import MemberRole
from app.core.db import affected_rows
from app.core.errors import CustomerNotFound
from app.core.pagination import Page, PageRequest
from app.customers.schemas import MemberView
from app.models import Customer, Invitation, Membership, User


async def find_customer(session: AsyncSession, customer_id: uuid.UUID) -> Customer | None:
    return await session.get(Customer, customer_id, populate_existing=True)


async def customer_by_id(session: AsyncSession, customer_id: uuid.UUID) -> Customer:
    """The customer; CUSTOMER_NOT_FOUND naming `customer_id` if none."""
    customer = await find_customer(session, customer_id)
    if customer is None:
        raise CustomerNotFound(param="customer_id")
    return customer


async def membership_of(session: AsyncSession, user_id: uuid.UUID) -> Membership | None:
    return await session.get(Membership, user_id, populate_existing=True)


async def member_ids(
    session: AsyncSession,
    customer_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None = None,
    email: str | None = None,
    limit: int | None = None,
) -> list[uuid.UUID]:
    """The customer's members; only those with `user_id` or `email` when given."""
    statement = select(Membership.user_id).where(col(Membership.customer_id) == customer_id)
    if user_id is not None:
        statement = statement.where(col(Membership.user_id) == user_id)
    if email is not None:
        statement = statement.join(User, col(User.id) == col(Membership.user_id)).where(
            col(User.email) == email
        )
    return list(await session.scalars(statement.limit(limit)))


async def member_count(session: AsyncSession, customer_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(col(Membership.customer_id) == customer_id)
    )
    return int(count or 0)


async def owner_of(session: AsyncSession, customer_id: uuid.UUID) -> uuid.UUID | None:
    return await session.scalar(
        select(Membership.user_id).where(
            col(Membership.customer_id) == customer_id, col(Membership.role) == MemberRole.OWNER
        )
    )


async def member_page(
    session: AsyncSession, customer_id: uuid.UUID, request: PageRequest
) -> Page[MemberView]:
    total = await member_count(session, customer_id)
    rows = await session.execute(
        select(Membership.user_id, User.email, Membership.role, Membership.joined_at)
        .join(User, col(User.id) == col(Membership.user_id))
        .where(col(Membership.customer_id) == customer_id)
        .order_by(col(Membership.joined_at), col(Membership.user_id))
        .offset(request.offset)
        .limit(request.page_size)
    )
    items = [
        MemberView(user_id, email, MemberRole(role), joined_at)
        for user_id, email, role, joined_at in rows
    ]
    return Page(items, total, request)


async def member_view(session: AsyncSession, membership: Membership) -> MemberView:
    user = await session.get(User, membership.user_id)
    return MemberView(
        membership.user_id,
        user.email if user else None,
        MemberRole(membership.role),
        membership.joined_at,
    )


async def take_seat(session: AsyncSession, customer_id: uuid.UUID, limit: int) -> bool:
    """One conditional write: succeeds only while a seat is free under `limit` (-1: none)."""
    statement = update(Customer).where(col(Customer.id) == customer_id)
    if limit >= 0:
        statement = statement.where(col(Customer.seats_used) < limit)
    rows = await affected_rows(session, statement.values(seats_used=col(Customer.seats_used) + 1))
    return rows == 1


async def release_seats(session: AsyncSession, customer_id: uuid.UUID, count: int = 1) -> None:
    if count:
        await session.execute(
            update(Customer)
            .where(col(Customer.id) == customer_id)
            .values(seats_used=col(Customer.seats_used) - count)
        )


async def expire_invitations(session: AsyncSession, customer_id: uuid.UUID, now: datetime) -> None:
    """Pending invitations past their expiry stop holding a seat."""
    expired = await affected_rows(
        session,
        update(Invitation)
        .where(
            col(Invitation.customer_id) == customer_id,
            col(Invitation.status) == "pending",
            col(Invitation.expires_at) <= now,
        )
        .values(status="expired"),
    )
    await release_seats(session, customer_id, expired)


async def pending_invitations(
    session: AsyncSession, customer_id: uuid.UUID
) -> Sequence[Invitation]:
    rows = await session.scalars(
        select(Invitation)
        .where(col(Invitation.customer_id) == customer_id, col(Invitation.status) == "pending")
        .order_by(col(Invitation.created_at), col(Invitation.id))
    )
    return list(rows)


async def pending_invitation(
    session: AsyncSession, customer_id: uuid.UUID, email: str
) -> uuid.UUID | None:
    return await session.scalar(
        select(Invitation.id).where(
            col(Invitation.customer_id) == customer_id,
            col(Invitation.email) == email,
            col(Invitation.status) == "pending",
        )
    )


async def invitation_for_email(
    session: AsyncSession, email: str, now: datetime
) -> Invitation | None:
    return await session.scalar(
        select(Invitation)
        .where(
            col(Invitation.email) == email,
            col(Invitation.status) == "pending",
            col(Invitation.expires_at) > now,
        )
        .order_by(col(Invitation.created_at), col(Invitation.id))
        .limit(1)
    )


async def claim_invitation(session: AsyncSession, invitation_id: uuid.UUID, status: str) -> bool:
    """Move a pending invitation to `status`; false when a concurrent request got there first."""
    claimed = await affected_rows(
        session,
        update(Invitation)
        .where(col(Invitation.id) == invitation_id, col(Invitation.status) == "pending")
        .values(status=status),
    )
    return claimed == 1


async def seats_used(session: AsyncSession, customer_id: uuid.UUID) -> int:
    """Members plus pending invitations, as committed or written by this transaction."""
    used = await session.scalar(
        select(col(Customer.seats_used)).where(col(Customer.id) == customer_id)
    )
    return int(used or 0)
