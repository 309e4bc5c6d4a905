"""Turning verified credentials into a known user, their granted roles and invitations."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.users import Grants, ensure_user, granted
from app.core.clock import Clock
from app.core.db import Database

SIGN_IN_CACHE_SIZE = 100_000
# Joins the team of the invitation waiting for a verified e-mail, in the sign-in's
# transaction: the customers' rule, given by the container.
AcceptInvitation = Callable[[AsyncSession, uuid.UUID, str, datetime], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class _SignIn:
    email: str | None
    email_verified: bool
    grants: Grants


class IdentityService:
    """Records users on first sight, reads their granted platform roles and accepts the
    invitation waiting for their verified e-mail.

    What it learns is kept in the process until something about that user changes: a
    grant or a membership (`forget`), or an invitation sent to their e-mail
    (`forget_email`), all driven by the invalidation log. A returning caller therefore
    costs no database statement, and an invitation is accepted at the caller's first
    request after it is sent.
    """

    def __init__(self, db: Database, clock: Clock, accept_invitation: AcceptInvitation) -> None:
        self._db = db
        self._clock = clock
        self._accept_invitation = accept_invitation
        self._cache: dict[uuid.UUID, _SignIn] = {}
        self._by_email: dict[str, set[uuid.UUID]] = {}
        self._pending: dict[uuid.UUID, asyncio.Future[Grants]] = {}

    def forget(self, user_id: str) -> None:
        self._cache.pop(uuid.UUID(user_id), None)

    def forget_email(self, email: str) -> None:
        for user_id in self._by_email.pop(email.lower(), set()):
            self._cache.pop(user_id, None)

    async def sign_in(
        self, user_id: uuid.UUID, email: str | None, *, email_verified: bool = False
    ) -> Grants:
        cached = self._cache.get(user_id)
        # The verification is part of the key: a verified token after an unverified one
        # is a new sign-in, which accepts the invitation waiting for that e-mail.
        if cached is not None and (cached.email, cached.email_verified) == (email, email_verified):
            return cached.grants
        pending = self._pending.get(user_id)
        if pending is not None:  # a concurrent first request of this user is signing in
            return await asyncio.shield(pending)
        future: asyncio.Future[Grants] = asyncio.get_running_loop().create_future()
        self._pending[user_id] = future
        try:
            grants = await self._sign_in(user_id, email, email_verified)
            future.set_result(grants)
            return grants
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        finally:
            del self._pending[user_id]

    async def _sign_in(self, user_id: uuid.UUID, email: str | None, email_verified: bool) -> Grants:
        verified = email.lower() if email and email_verified else None
        async with self._db.transaction() as session:
            now = self._clock()
            await ensure_user(session, user_id, email, now)
            grants = await granted(session, user_id)
            if verified is not None:
                await self._accept_invitation(session, user_id, verified, now)
        if len(self._cache) >= SIGN_IN_CACHE_SIZE:
            self._cache.clear()
            self._by_email.clear()
        self._cache[user_id] = _SignIn(email, email_verified, grants)
        if verified is not None:
            self._by_email.setdefault(verified, set()).add(user_id)
        return grants
