"""Tiers: lookup by name or display name, the default tier, and tier administration."""

from __future__ import annotations

import uuid

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.auth.principal import Principal
from app.core import invalidation
from app.core.errors import TierNotAssignable, TierNotFound
from app.models import Tier


def normalise_tier_name(name: str) -> str:
    """`Pro Plus`, `pro-plus` and `PRO_PLUS` all name `pro_plus`."""
    return "_".join(name.strip().lower().replace("-", " ").replace("_", " ").split())


async def all_tiers(session: AsyncSession, *, active: bool | None = None) -> list[Tier]:
    statement = select(Tier).order_by(col(Tier.sort_order), col(Tier.name))
    if active is not None:
        statement = statement.where(col(Tier.is_active) == active)
    return list(await session.scalars(statement))


async def find_tier(session: AsyncSession, name: str) -> Tier:
    wanted = normalise_tier_name(name)
    for tier in await all_tiers(session):
        if wanted in (tier.name, normalise_tier_name(tier.display_name)):
            return tier
    raise TierNotFound(param="tierName")


async def default_tier(session: AsyncSession) -> Tier:
    tier = await session.scalar(select(Tier).where(col(Tier.is_default)))
    if tier is None:
        raise TierNotFound("No default tier is configured.")
    return tier


def require_assignable(tier: Tier, *, param: str = "tierName") -> None:
    if not tier.is_assignable:
        raise TierNotAssignable(f"The {tier.display_name} tier cannot be assigned.", param=param)


class TierService:
    async def list(
        self, session: AsyncSession, principal: Principal, *, active: bool | None = None
    ) -> list[Tier]:
        principal.require_admin()
        return await all_tiers(session, active=active)

    async def set_default(
        self, session: AsyncSession, principal: Principal, *, tier_id: uuid.UUID
    ) -> Tier:
        principal.require_admin()
        tier = await session.get(Tier, tier_id)
        if tier is None:
            raise TierNotFound(param="tierID")
        require_assignable(tier, param="tierID")
        if not tier.is_active:
            raise TierNotAssignable("An inactive tier cannot be the default.", param="tierID")
        if not tier.is_default:
            # Demote first: the partial unique index allows one default at any instant.
            await session.execute(update(Tier).where(col(Tier.is_default)).values(is_default=False))
            await session.execute(
                update(Tier).where(col(Tier.id) == tier_id).values(is_default=True)
            )
            await session.refresh(tier)
            invalidation.invalidate(session, invalidation.TIERS, tier_id)
        return tier
