"""API keys: created by a user for themselves, stored only as a hash, revocable.

Creating and revoking one is audited on the chain of the customer the user belongs to at
that moment, whose owner and admins read what credentials act on their account; a user
with no customer's go to the platform chain. Never the secret, nor its hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import AwareDatetime, Field, field_validator
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.auth.principal import Access, Principal, requires
from app.core import audit, invalidation
from app.core.clock import Clock
from app.core.db import affected_rows
from app.core.errors import ApiKeyNotFound, InvalidApiKey, InvalidInput
from app.core.inputs import InputModel
from app.models import ApiKey, Membership

KEY_PREFIX = "bk_"
SECRET_PREFIX = "bs_"
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiKeyCreate(InputModel):
    name: str = Field(min_length=1, max_length=100)
    expires_at: AwareDatetime | None = None

    @field_validator("expires_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        """Kept in UTC, which must still be a date: 9999-12-31T23:00-05:00 is not."""
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("must be a time before the year 10000") from None


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    api_key: ApiKey
    secret: str


def hash_secret(secret: str) -> str:
    """SHA-256 suffices: secrets are 256 random bits, so there is nothing to brute-force."""
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeyService:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    @requires(Access.USER)
    async def create(
        self, session: AsyncSession, principal: Principal, *, data: ApiKeyCreate
    ) -> IssuedApiKey:
        user_id = principal.require_user()
        now = self._clock()
        if data.expires_at is not None and data.expires_at <= now:
            raise InvalidInput("expiresAt must be in the future.", param="expires_at")
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        api_key = ApiKey(
            user_id=user_id,
            name=data.name,
            key=KEY_PREFIX + secrets.token_urlsafe(18),
            secret_hash=hash_secret(secret),
            created_at=now,
            expires_at=data.expires_at,
        )
        session.add(api_key)
        await session.flush()
        await _audit(session, "api_key.created", api_key, at=now, expires_at=api_key.expires_at)
        return IssuedApiKey(api_key, secret)

    @requires(Access.USER)
    async def list(self, session: AsyncSession, principal: Principal) -> list[ApiKey]:
        user_id = principal.require_user()
        rows = await session.scalars(
            select(ApiKey)
            .where(col(ApiKey.user_id) == user_id, col(ApiKey.revoked_at).is_(None))
            .order_by(col(ApiKey.created_at), col(ApiKey.id))
        )
        return list(rows)

    @requires(Access.USER)
    async def revoke(
        self, session: AsyncSession, principal: Principal, *, key_id: uuid.UUID
    ) -> None:
        user_id = principal.require_user()
        api_key = await session.get(ApiKey, key_id)
        if api_key is None or api_key.user_id != user_id or api_key.revoked_at is not None:
            raise ApiKeyNotFound()
        now = self._clock()
        # Conditional, so that of concurrent revocations one revokes (and is audited).
        revoked = await affected_rows(
            session,
            update(ApiKey)
            .where(col(ApiKey.id) == key_id, col(ApiKey.revoked_at).is_(None))
            .values(revoked_at=now),
        )
        if revoked != 1:
            raise ApiKeyNotFound()
        invalidation.invalidate(session, invalidation.API_KEY, api_key.key)
        await _audit(session, "api_key.revoked", api_key, at=now)

    async def find(self, session: AsyncSession, key: str) -> ApiKey | None:
        api_key: ApiKey | None = await session.scalar(select(ApiKey).where(col(ApiKey.key) == key))
        return api_key

    def check(self, api_key: ApiKey | None, secret: str) -> ApiKey:
        """The key if the secret matches and it is neither revoked nor expired."""
        if (
            api_key is None
            or not hmac.compare_digest(api_key.secret_hash, hash_secret(secret))
            or api_key.revoked_at is not None
            or (api_key.expires_at is not None and api_key.expires_at <= self._clock())
        ):
            raise InvalidApiKey()
        return api_key

    def needs_touch(self, api_key: ApiKey) -> bool:
        """`lastUsedAt` is kept to the minute, so most requests need no write."""
        last = api_key.last_used_at
        return last is None or self._clock() - last >= LAST_USED_RESOLUTION

    async def touch(self, session: AsyncSession, key_id: uuid.UUID) -> None:
        await session.execute(
            update(ApiKey).where(col(ApiKey.id) == key_id).values(last_used_at=self._clock())
        )


async def _audit(
    session: AsyncSession, action: str, api_key: ApiKey, *, at: datetime, **details: object
) -> None:
    membership = await session.get(Membership, api_key.user_id)
    await audit.record(
        session,
        action,
        at=at,
        actor=api_key.user_id,
        customer_id=membership.customer_id if membership else None,
        api_key_id=api_key.id,
        name=api_key.name,
        **details,
    )
