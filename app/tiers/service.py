"""Tiers: lookup by name or display name, the default tier, and tier administration."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.auth.principal import Access, Principal, requires
from app.core import audit, invalidation
from app.core.errors import TierNotAssignable, TierNotFound
from app.events.outgoing import emit
from app.events.types import EventType
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
    raise TierNotFound(param="tier_name")


async def default_tier(session: AsyncSession) -> Tier:
    tier = await session.scalar(select(Tier).where(col(Tier.is_default)))
    if tier is None:
        raise TierNotFound("No default tier is configured.")
    return tier


async def lock_tiers(session: AsyncSession) -> None:
    """Serialise changes of the default: lock every tier row, always in the same order.

    Without it, two concurrent changes on PostgreSQL each demote the default they saw and
    then promote their own tier: the second trips over the partial unique index
    `uq_tier_default` (or the two deadlock on each other's rows). Once the locks are held,
    each later statement of this READ COMMITTED transaction sees the committed winner.
    `FOR NO KEY UPDATE` still lets customers reference the tiers (their foreign-key checks
    take `FOR KEY SHARE`). SQLite renders no locking clause: its writers are already
    serialised by `BEGIN IMMEDIATE`.
    """
    await session.execute(
        select(col(Tier.id)).order_by(col(Tier.id)).with_for_update(key_share=True)
    )


def require_assignable(tier: Tier, *, param: str = "tier_name") -> None:
    if not tier.is_assignable:
        raise TierNotAssignable(f"The {tier.display_name} tier cannot be assigned.", param=param)


class TierService:
    @requires(Access.USER)
    async def plans(self, session: AsyncSession, principal: Principal) -> list[Tier]:
        """The tiers a customer can be on, in their order: the active ones that can be
        bought or assigned, the default (free) one included so that a picker shows it.
        Not the anonymous callers' tier, which no customer is ever on."""
        return [tier for tier in await all_tiers(session, active=True) if tier.is_assignable]

    @requires(Access.ADMIN)
    async def list(
        self, session: AsyncSession, principal: Principal, *, active: bool | None = None
    ) -> list[Tier]:
        return await all_tiers(session, active=active)

    @requires(Access.ADMIN)
    async def set_default(
        self, session: AsyncSession, principal: Principal, *, tier: uuid.UUID | str
    ) -> Tier:
        """`tier`: its id (REST's path) or its name (GraphQL's argument)."""
        await lock_tiers(session)
        chosen, param = await _chosen_tier(session, tier)
        require_assignable(chosen, param=param)
        if not chosen.is_active:
            raise TierNotAssignable("An inactive tier cannot be the default.", param=param)
        if not chosen.is_default:
            previous = await session.scalar(select(Tier).where(col(Tier.is_default)))
            # Demote first: the partial unique index allows one default at any instant.
            await session.execute(update(Tier).where(col(Tier.is_default)).values(is_default=False))
            await session.execute(
                update(Tier).where(col(Tier.id) == chosen.id).values(is_default=True)
            )
            await session.refresh(chosen)
            invalidation.invalidate(session, invalidation.TIERS, chosen.id)
            await audit.record(
                session,
                "tier.default_changed",
                actor=principal.user_id,
                customer_id=None,
                tier_id=chosen.id,
                tier_name=chosen.name,
                previous_tier_id=previous.id if previous else None,
                previous_tier_name=previous.name if previous else None,
            )
        return chosen


async def _chosen_tier(session: AsyncSession, tier: uuid.UUID | str) -> tuple[Tier, str]:
    """The tier an id or a name chooses, read afresh, and the param that chose it."""
    if isinstance(tier, str):
        found = await find_tier(session, tier)
        await session.refresh(found)
        return found, "tier_name"
    row = await session.get(Tier, tier, populate_existing=True)
    if row is None:
        raise TierNotFound(param="tier_id")
    return row, "tier_id"


async def emit_tier_changed(
    session: AsyncSession,
    customer_id: uuid.UUID,
    previous_tier_id: uuid.UUID,
    tier_id: uuid.UUID,
    *,
    at: datetime,
    source: str,
) -> None:
    """`tier.changed` to the customer's webhooks; `source`: `admin` or `subscription`."""
    previous, tier = await session.get(Tier, previous_tier_id), await session.get(Tier, tier_id)
    await emit(
        session,
        customer_id=customer_id,
        type=EventType.TIER_CHANGED,
        data={
            "tierId": tier_id,
            "tierName": tier.name if tier else None,
            "previousTierId": previous_tier_id,
            "previousTierName": previous.name if previous else None,
            "source": source,
        },
        at=at,
    )
