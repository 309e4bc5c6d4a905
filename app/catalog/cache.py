"""The catalog, tiers and per-customer overrides held in memory for the hot path."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlmodel import col

from app.catalog.model import FeatureKind
from app.catalog.store import CatalogEntry, load_catalog
from app.core.db import Database
from app.core.errors import FeatureNotFound, ServiceNotFound
from app.models import FeatureOverride


class CatalogCache:
    """Everything a limit decision needs from the catalog, without a database statement.

    The whole catalog is small (tens of features) and is reloaded when it changes;
    overrides are loaded per customer on first use and dropped when they change.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._entries: dict[tuple[str, str], CatalogEntry] = {}
        self._overrides: dict[uuid.UUID, dict[uuid.UUID, int]] = {}
        self._stale = True
        # Bumped by every change: what was read while one arrived is used once, not kept.
        self._generation = 0

    def mark_stale(self, _key: str = "") -> None:
        self._generation += 1
        self._stale = True

    def drop_overrides(self, customer_id: str) -> None:
        self._generation += 1
        self._overrides.pop(uuid.UUID(customer_id), None)

    async def refresh(self) -> None:
        generation = self._generation
        async with self._db.transaction(write=False) as session:
            entries = await load_catalog(session)
        self._entries = {entry.spec.key: entry for entry in entries}
        self._stale = generation != self._generation

    async def require(self, service_name: str, feature_key: str) -> CatalogEntry:
        """The feature, or the 404 naming what is unknown: the service or the feature."""
        if self._stale:
            await self.refresh()
        entry = self._entries.get((service_name, feature_key))
        if entry is not None:
            return entry
        if service_name not in await self.services():
            raise ServiceNotFound(param="service_name")
        raise FeatureNotFound(param="feature_key")

    async def entries(self, kind: FeatureKind | None = None) -> list[CatalogEntry]:
        if self._stale:
            await self.refresh()
        return [e for e in self._entries.values() if kind is None or e.spec.kind is kind]

    async def services(self) -> set[str]:
        return {entry.spec.service_name for entry in await self.entries()}

    async def value(
        self, entry: CatalogEntry, tier_name: str, customer_id: uuid.UUID | None
    ) -> int:
        """The customer's override if billing_admin set one, else its tier's value."""
        # On every decision's path: the loaded overrides are read without another await.
        if customer_id is not None:
            overrides = self._overrides.get(customer_id)
            if overrides is None:
                overrides = await self._load_overrides(customer_id)
            if entry.id in overrides:
                return overrides[entry.id]
        return entry.spec.value_for(tier_name)

    async def _load_overrides(self, customer_id: uuid.UUID) -> dict[uuid.UUID, int]:
        generation = self._generation
        async with self._db.transaction(write=False) as session:
            rows = await session.execute(
                select(col(FeatureOverride.feature_id), col(FeatureOverride.value)).where(
                    col(FeatureOverride.customer_id) == customer_id
                )
            )
            loaded = {feature_id: value for feature_id, value in rows}
        if generation == self._generation:
            self._overrides[customer_id] = loaded
        return loaded
