"""Accepting an e-mail invitation when its addressee signs in."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import audit, invalidation
from app.core.db import insert_unique
from app.customers import repository as repo
from app.events.outgoing import emit
from app.events.types import EventType
from app.models import Membership


async def accept_invitation(
    session: AsyncSession, user_id: uuid.UUID, email: str, now: datetime
) -> bool:
    """Join the team of the oldest live invitation to `email`, keeping the seat it held.

    Returns whether the user now belongs to a customer.
    """
    if await repo.membership_of(session, user_id) is not None:
        return True
    invitation = await repo.invitation_for_email(session, email, now)
    if invitation is None or not await repo.claim_invitation(session, invitation.id, "accepted"):
        return False
    invitation.accepted_by = user_id
    membership = Membership(
        user_id=user_id, customer_id=invitation.customer_id, role=invitation.role, joined_at=now
    )
    if not await insert_unique(session, membership):
        return True  # a concurrent sign-in of the same user accepted first
    invalidation.invalidate(session, invalidation.MEMBERSHIP, user_id)
    await audit.record(
        session,
        "invitation.accepted",
        at=now,
        actor=user_id,
        customer_id=invitation.customer_id,
        email=email,
    )
    await emit(
        session,
        customer_id=invitation.customer_id,
        type=EventType.MEMBER_ADDED,
        data={"userId": user_id, "role": invitation.role, "invitationId": invitation.id},
        at=now,
    )
    return True
