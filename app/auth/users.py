"""User rows: created on first sight of an id from the identity provider."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core import invalidation
from app.models import User, UserRoleGrant


async def ensure_user(
    session: AsyncSession, user_id: uuid.UUID, email: str | None, now: datetime
) -> None:
    """Insert the user if unknown; refresh the e-mail when the identity provider changed it.

    An insert-or-update statement, so concurrent first requests of one user never collide.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    email = email.lower() if email else None
    statement = insert(User).values(id=user_id, email=email, created_at=now)
    if email is None:
        statement = statement.on_conflict_do_nothing(index_elements=["id"])
    else:
        statement = statement.on_conflict_do_update(
            index_elements=["id"],
            set_={"email": email},
            where=col(User.email).is_distinct_from(email),
        )
    await session.execute(statement)


async def granted_roles(session: AsyncSession, user_id: uuid.UUID) -> frozenset[str]:
    rows = await session.scalars(
        select(UserRoleGrant.role).where(col(UserRoleGrant.user_id) == user_id)
    )
    return frozenset(rows)


async def set_role_grant(
    session: AsyncSession, user_id: uuid.UUID, role: str, *, granted: bool
) -> None:
    from app.core.clock import utcnow

    invalidation.invalidate(session, invalidation.ROLES, user_id)
    if not granted:
        await session.execute(
            delete(UserRoleGrant).where(
                col(UserRoleGrant.user_id) == user_id,
                col(UserRoleGrant.role) == role,
            )
        )
        return
    now = utcnow()
    await ensure_user(session, user_id, None, now)
    if await session.get(UserRoleGrant, (user_id, role)) is None:
        session.add(UserRoleGrant(user_id=user_id, role=role, granted_at=now))
