"""The catalog in the database: seeded from the default file, read whole into memory."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.model import FeatureKind, FeatureSpec, Window
from app.models import Feature, FeatureValue, Tier


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    id: uuid.UUID
    spec: FeatureSpec


async def seed_catalog(session: AsyncSession, specs: Iterable[FeatureSpec]) -> int:
    """Insert the features (and their tier values) the database does not have yet.

    Features already present are left as they are: services and operators may have
    changed them since, and those changes win over the shipped defaults.
    """
    existing = {
        (row.service_name, row.feature_key) for row in await session.scalars(select(Feature))
    }
    tiers = {tier.name: tier.id for tier in await session.scalars(select(Tier))}
    added = 0
    for spec in specs:
        if spec.key in existing:
            continue
        feature = Feature(
            service_name=spec.service_name,
            feature_key=spec.feature_key,
            kind=spec.kind,
            window=spec.window,
            description=spec.description,
        )
        session.add(feature)
        await session.flush()
        for tier_name, value in spec.values.items():
            if tier_name in tiers:
                session.add(
                    FeatureValue(feature_id=feature.id, tier_id=tiers[tier_name], value=value)
                )
        added += 1
    await session.flush()
    return added


async def load_catalog(session: AsyncSession) -> list[CatalogEntry]:
    tier_names = {tier.id: tier.name for tier in await session.scalars(select(Tier))}
    values: dict[uuid.UUID, dict[str, int]] = {}
    for row in await session.scalars(select(FeatureValue)):
        values.setdefault(row.feature_id, {})[tier_names[row.tier_id]] = row.value
    return [
        CatalogEntry(
            row.id,
            FeatureSpec(
                row.service_name,
                row.feature_key,
                FeatureKind(row.kind),
                Window(row.window) if row.window else None,
                row.description,
                values.get(row.id, {}),
            ),
        )
        for row in await session.scalars(select(Feature).order_by(Feature.service_name))
    ]
