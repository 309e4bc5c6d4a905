"""Each customer's thresholds held in memory for the decision path.

Loaded on a customer's first limited decision and dropped when the customer changes them
(the `alert_thresholds` topic of `app.core.invalidation`), in this process at once and in
the others by the change log: once loaded, a decision reads its thresholds with two
dictionary lookups and no statement.
"""

from __future__ import annotations

import uuid

from app.alerts.repository import scopes_of
from app.alerts.thresholds import ScopeKey, ThresholdScope, resolve
from app.core.db import Database


class CustomerThresholds:
    """One customer's scopes, and what each feature asked about resolved to."""

    __slots__ = ("_resolved", "_scopes")

    def __init__(self, scopes: list[ThresholdScope]) -> None:
        self._scopes = {scope.key: scope.percents for scope in scopes}
        self._resolved: dict[ScopeKey, tuple[int, ...]] = {}

    def percents(self, feature: ScopeKey) -> tuple[int, ...]:
        percents = self._resolved.get(feature)
        if percents is None:
            percents = self._resolved[feature] = resolve(self._scopes, feature)
        return percents


class ThresholdCache:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._customers: dict[uuid.UUID, CustomerThresholds] = {}
        # Bumped by every drop: what was read while one arrived is used once, not kept.
        self._generation = 0

    def drop(self, customer_id: str) -> None:
        self._generation += 1
        self._customers.pop(uuid.UUID(customer_id), None)

    def cached(self, customer_id: uuid.UUID, feature: ScopeKey) -> tuple[int, ...] | None:
        """The feature's percentages if the customer's thresholds are loaded; no await."""
        thresholds = self._customers.get(customer_id)
        return None if thresholds is None else thresholds.percents(feature)

    async def percents(self, customer_id: uuid.UUID, feature: ScopeKey) -> tuple[int, ...]:
        thresholds = self._customers.get(customer_id)
        if thresholds is None:
            thresholds = await self._load(customer_id)
        return thresholds.percents(feature)

    async def _load(self, customer_id: uuid.UUID) -> CustomerThresholds:
        generation = self._generation
        async with self._db.transaction(write=False) as session:
            thresholds = CustomerThresholds(await scopes_of(session, customer_id))
        if generation == self._generation:
            self._customers[customer_id] = thresholds
        return thresholds
