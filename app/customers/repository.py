"""Queries of customers, memberships and invitations."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.roles import MemberRole
from app.core.pagination import Page, PageRequest
from app.customers.schemas import MemberView
from app.models import Customer, Invitation, Membership, User


async def membership_of(session: AsyncSession, user_id: uuid.UUID) -> Membership | None:
    return await session.get(Membership, user_id, populate_existing=True)


async def member_count(session: AsyncSession, customer_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count()).select_from(Membership).where(Membership.customer_id == customer_id)
    )
    return int(count or 0)


async def owner_of(session: AsyncSession, customer_id: uuid.UUID) -> uuid.UUID | None:
    return await session.scalar(
        select(Membership.user_id).where(
            Membership.customer_id == customer_id, Membership.role == MemberRole.OWNER
        )
    )


async def member_page(
    session: AsyncSession, customer_id: uuid.UUID, request: PageRequest
) -> Page[MemberView]:
    total = await member_count(session, customer_id)
    rows = await session.execute(
        select(Membership.user_id, User.email, Membership.role, Membership.joined_at)
        .join(User, User.id == Membership.user_id)  # type: ignore[arg-type]
        .where(Membership.customer_id == customer_id)
        .order_by(Membership.joined_at, Membership.user_id)  # type: ignore[arg-type]
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
    """One conditional write: succeeds only while a seat is free under `limit` (−1: none)."""
    statement = update(Customer).where(Customer.id == customer_id)  # type: ignore[arg-type]
    if limit >= 0:
        statement = statement.where(Customer.seats_used < limit)  # type: ignore[arg-type]
    result = await session.execute(statement.values(seats_used=Customer.seats_used + 1))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def release_seats(session: AsyncSession, customer_id: uuid.UUID, count: int = 1) -> None:
    if count:
        await session.execute(
            update(Customer)
            .where(Customer.id == customer_id)  # type: ignore[arg-type]
            .values(seats_used=Customer.seats_used - count)
        )


async def expire_invitations(
    session: AsyncSession, customer_id: uuid.UUID, now: datetime
) -> None:
    """Pending invitations past their expiry stop holding a seat."""
    result = await session.execute(
        update(Invitation)
        .where(
            Invitation.customer_id == customer_id,  # type: ignore[arg-type]
            Invitation.status == "pending",  # type: ignore[arg-type]
            Invitation.expires_at <= now,  # type: ignore[arg-type]
        )
        .values(status="expired")
    )
    await release_seats(session, customer_id, int(result.rowcount))  # type: ignore[attr-defined]


async def pending_invitations(
    session: AsyncSession, customer_id: uuid.UUID
) -> Sequence[Invitation]:
    rows = await session.scalars(
        select(Invitation)
        .where(Invitation.customer_id == customer_id, Invitation.status == "pending")
        .order_by(Invitation.created_at, Invitation.id)  # type: ignore[arg-type]
    )
    return list(rows)


async def invitation_for_email(
    session: AsyncSession, email: str, now: datetime
) -> Invitation | None:
    return await session.scalar(
        select(Invitation)
        .where(
            Invitation.email == email,
            Invitation.status == "pending",
            Invitation.expires_at > now,  # type: ignore[arg-type]
        )
        .order_by(Invitation.created_at, Invitation.id)  # type: ignore[arg-type]
        .limit(1)
    )


async def claim_invitation(session: AsyncSession, invitation_id: uuid.UUID, status: str) -> bool:
    """Move a pending invitation to `status`; false when a concurrent request got there first."""
    result = await session.execute(
        update(Invitation)
        .where(Invitation.id == invitation_id, Invitation.status == "pending")  # type: ignore[arg-type]
        .values(status=status)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
