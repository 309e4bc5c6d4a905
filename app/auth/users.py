"""User rows: created on first sight of an id from the identity provider."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.auth.principal import PlatformRole
from app.core import invalidation
from app.models import ServiceGrant, User, UserRoleGrant


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


@dataclass(frozen=True, slots=True)
class Grants:
    """What the operator granted a user: platform roles, and the services a
    billing_service user meters."""

    roles: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()


async def granted(session: AsyncSession, user_id: uuid.UUID) -> Grants:
    roles = await session.scalars(
        select(UserRoleGrant.role).where(col(UserRoleGrant.user_id) == user_id)
    )
    services = await session.scalars(
        select(ServiceGrant.service_name).where(col(ServiceGrant.user_id) == user_id)
    )
    return Grants(frozenset(roles), frozenset(services))


async def set_role_grant(
    session: AsyncSession,
    user_id: uuid.UUID,
    role: str,
    *,
    granted: bool,
    services: Iterable[str] = (),
) -> None:
    """Grant or revoke a role. `services` (billing_service only) are granted with it, or
    revoked alone; revoking billing_service without naming any revokes them all."""
    from app.core.clock import utcnow

    services = set(services)
    invalidation.invalidate(session, invalidation.ROLES, user_id)
    if not granted:
        await _revoke(session, user_id, role, services)
        return
    now = utcnow()
    await ensure_user(session, user_id, None, now)
    if await session.get(UserRoleGrant, (user_id, role)) is None:
        session.add(UserRoleGrant(user_id=user_id, role=role, granted_at=now))
    for service_name in services:
        if await session.get(ServiceGrant, (user_id, service_name)) is None:
            session.add(ServiceGrant(user_id=user_id, service_name=service_name, granted_at=now))


async def _revoke(session: AsyncSession, user_id: uuid.UUID, role: str, services: set[str]) -> None:
    of_user = col(ServiceGrant.user_id) == user_id
    if services:
        await session.execute(
            delete(ServiceGrant).where(of_user, col(ServiceGrant.service_name).in_(services))
        )
        return
    await session.execute(
        delete(UserRoleGrant).where(
            col(UserRoleGrant.user_id) == user_id, col(UserRoleGrant.role) == role
        )
    )
    if role == PlatformRole.BILLING_SERVICE:
        await session.execute(delete(ServiceGrant).where(of_user))
