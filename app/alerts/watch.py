"""What the decision paths see of alerts: which thresholds a decision is watched for, and
what becomes of the ones it reaches.

Rate limits decide without the database, and so do their alerts: the thresholds come from
`ThresholdCache`, and an alert reached goes to `AlertWriter`'s queue. Quotas decide in a
transaction, and store their alerts in it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.cache import ThresholdCache
from app.alerts.store import AlertRow, AlertStore
from app.alerts.thresholds import AlertKind, ScopeKey, crossed
from app.alerts.writer import AlertWriter
from app.catalog.model import FeatureSpec, Window
from app.models import UsageAlert
from app.models.base import new_id

NOT_WATCHED: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Reached:
    """What a decision that crossed thresholds left: the customer's usage of a feature
    against its limit, in a window for a rate limit."""

    customer_id: uuid.UUID
    spec: FeatureSpec
    limit: int
    usage: int
    at: datetime
    window: Window | None = None
    window_start: datetime | None = None

    def alert(self, kind: AlertKind, percent: int) -> AlertRow:
        """The alert's columns: a plain dict, as the insert takes it (a table model costs
        tens of microseconds to build, and the decision's path waits for this)."""
        return {
            "id": new_id(),
            "customer_id": self.customer_id,
            "kind": kind.value,
            "service_name": self.spec.service_name,
            "feature_key": self.spec.feature_key,
            "window": self.window.value if self.window is not None else None,
            "window_start": self.window_start,
            "percent": percent,
            "limit": self.limit,
            "usage": self.usage,
            "occurred_at": self.at,
        }


class AlertWatch:
    def __init__(self, cache: ThresholdCache, writer: AlertWriter, store: AlertStore) -> None:
        self._cache = cache
        self._writer = writer
        self._store = store

    def watched(
        self, customer_id: uuid.UUID | None, feature: ScopeKey, limit: int
    ) -> tuple[int, ...] | None:
        """The thresholds a decision is watched for, from memory: none for a caller with
        no customer or a feature with no finite, non-zero limit; None while the customer's
        thresholds are not loaded (then `load` them)."""
        if customer_id is None or limit <= 0:
            return NOT_WATCHED
        return self._cache.cached(customer_id, feature)

    async def load(self, customer_id: uuid.UUID, feature: ScopeKey) -> tuple[int, ...]:
        return await self._cache.percents(customer_id, feature)

    def used(self, crossings: Sequence[int], reached: Reached) -> None:
        """An allowed decision on a rate limit crossed these thresholds (`crossed`): their
        alerts are queued for the writer, without an await."""
        self._writer.enqueue([reached.alert(AlertKind.USAGE, p) for p in crossings])

    async def allocated(
        self,
        session: AsyncSession,
        customer_id: uuid.UUID,
        spec: FeatureSpec,
        limit: int,
        percents: Sequence[int],
        amount: int,
        usage: int,
        at: datetime,
    ) -> list[UsageAlert]:
        """An allocation took `amount` of a quota, leaving `usage` held: the thresholds
        it crossed, stored in its transaction (`announce` them once it has committed)."""
        crossings = crossed(percents, limit, usage - amount, usage)
        if not crossings:
            return []
        reached = Reached(customer_id, spec, limit, usage, at)
        return await self._store.store(
            session, [reached.alert(AlertKind.QUOTA, p) for p in crossings]
        )

    async def announce(self, alerts: Sequence[UsageAlert]) -> None:
        if alerts:
            await self._store.announce(alerts)
