"""The paid tiers as Stripe products and monthly prices: `billing stripe-sync-catalog`.

Idempotent: a tier's product is found by its metadata and its price by a lookup key, so
a second run finds everything in place and changes nothing, here or at Stripe. A tier
whose price changed gets a new Stripe price (prices are immutable) and the old one is
archived; subscriptions keep the price they were sold at.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import col

from app.billing.gateway import CatalogPrice, PaymentGateway
from app.core import invalidation
from app.core.db import Database
from app.models import Tier
from app.tiers.service import all_tiers


@dataclass(frozen=True, slots=True)
class SyncedTier:
    tier_name: str
    stripe_price_id: str
    changed: bool


async def sync_catalog(db: Database, gateway: PaymentGateway) -> list[SyncedTier]:
    async with db.transaction(write=False) as session:
        paid = [tier for tier in await all_tiers(session, active=True) if tier.price > 0]
    synced = []
    for tier in paid:
        price_id = await gateway.sync_price(
            CatalogPrice(
                tier_name=tier.name,
                display_name=tier.display_name,
                description=tier.description,
                unit_amount=tier.price,
            )
        )
        changed = price_id != tier.stripe_price_id
        if changed:
            async with db.transaction() as session:
                await session.execute(
                    update(Tier).where(col(Tier.id) == tier.id).values(stripe_price_id=price_id)
                )
                invalidation.invalidate(session, invalidation.TIERS, tier.id)
        synced.append(SyncedTier(tier.name, price_id, changed))
    return synced
