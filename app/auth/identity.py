"""Turning verified credentials into a known user, their granted roles and invitations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.auth.users import ensure_user, granted_roles
from app.core.clock import Clock
from app.core.db import Database
from app.customers import repository as customers
from app.customers.invitations import accept_invitation

SIGN_IN_CACHE_SIZE = 100_000


@dataclass(frozen=True, slots=True)
class _SignIn:
    email: str | None
    roles: frozenset[str]
    member: bool


class IdentityService:
    """Records users on first sight, reads their granted platform roles and accepts the
    invitation waiting for their verified e-mail.

    What it learns is kept in the process until a grant or a membership of that user
    changes (`forget`, driven by the invalidation log), so a returning caller costs no
    database statement. The one exception: a caller with a verified e-mail and no team is
    checked for a waiting invitation on each request, so it is accepted at once.
    """

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._cache: dict[uuid.UUID, _SignIn] = {}

    def forget(self, user_id: str) -> None:
        self._cache.pop(uuid.UUID(user_id), None)

    async def sign_in(
        self, user_id: uuid.UUID, email: str | None, *, email_verified: bool = False
    ) -> frozenset[str]:
        verified = email.lower() if email and email_verified else None
        cached = self._cache.get(user_id)
        if cached is not None and await self._still_valid(cached, email, verified):
            return cached.roles
        async with self._db.transaction() as session:
            now = self._clock()
            await ensure_user(session, user_id, email, now)
            roles = await granted_roles(session, user_id)
            if verified is not None:
                member = await accept_invitation(session, user_id, verified, now)
            else:
                member = await customers.membership_of(session, user_id) is not None
        if len(self._cache) >= SIGN_IN_CACHE_SIZE:
            self._cache.clear()
        self._cache[user_id] = _SignIn(email, roles, member)
        return roles

    async def _still_valid(
        self, cached: _SignIn, email: str | None, verified_email: str | None
    ) -> bool:
        """Same e-mail as recorded, and no invitation can be waiting for this caller."""
        if cached.email != email:
            return False
        return cached.member or verified_email is None or not await self._invited(verified_email)

    async def _invited(self, email: str) -> bool:
        async with self._db.transaction(write=False) as session:
            return await customers.invitation_for_email(session, email, self._clock()) is not None
