"""Turning verified credentials into a known user, their granted roles and invitations."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from app.auth.users import ensure_user, granted_roles
from app.core.clock import Clock
from app.core.db import Database
from app.customers import repository as customers
from app.customers.invitations import accept_invitation

SIGN_IN_CACHE_SECONDS = 10.0
SIGN_IN_CACHE_SIZE = 50_000


@dataclass(frozen=True, slots=True)
class _SignIn:
    expires: float
    roles: frozenset[str]
    member: bool


class IdentityService:
    """Records users on first sight, reads their granted platform roles and accepts the
    invitation waiting for their verified e-mail.

    The answer is cached per process for a few seconds, so a busy caller costs one
    database round trip per period rather than one per request; a role granted from the
    CLI takes effect within that period. A caller with no team and a verified e-mail is
    looked up on every request, so an invitation is accepted at their next request.
    """

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._cache: dict[tuple[uuid.UUID, str | None], _SignIn] = {}

    async def sign_in(
        self, user_id: uuid.UUID, email: str | None, *, email_verified: bool = False
    ) -> frozenset[str]:
        key = (user_id, email)
        verified = email.lower() if email and email_verified else None
        cached = self._cache.get(key)
        if cached is not None and await self._still_valid(cached, verified):
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
        self._cache[key] = _SignIn(time.monotonic() + SIGN_IN_CACHE_SECONDS, roles, member)
        return roles

    async def _still_valid(self, cached: _SignIn, verified_email: str | None) -> bool:
        """Fresh, and no invitation can be waiting for this caller."""
        if cached.expires <= time.monotonic():
            return False
        return cached.member or verified_email is None or not await self._invited(verified_email)

    async def _invited(self, email: str) -> bool:
        async with self._db.transaction(write=False) as session:
            return await customers.invitation_for_email(session, email, self._clock()) is not None
