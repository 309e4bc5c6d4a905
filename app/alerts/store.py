"""Storing alerts exactly once, and the seam where delivery connects.

Whoever stores alerts — the background writer for rate limits, an allocation's
transaction for quotas — goes through `AlertStore.store`, inside the transaction: an
alert already stored (the unique constraint says so) is skipped, and each new one is
handed to every `on_alert` callback in that same transaction, so that what a callback
writes (an outgoing webhook's outbox row) commits with the alert or not at all. Once the
transaction has committed, the caller passes the stored alerts to `announce`, which hands
each to every `after_commit` callback (a live push); a failing one is logged and skipped,
as the alert is already stored. The container registers the callbacks.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.repository import insert_new
from app.alerts.thresholds import AlertKind
from app.models import UsageAlert

logger = logging.getLogger(__name__)
AlertRow = dict[str, Any]  # the columns of a `UsageAlert`, its id included
OnAlert = Callable[[AsyncSession, UsageAlert], Awaitable[None]]
AfterCommit = Callable[[UsageAlert], Awaitable[None]]
# The name of the event an alert is, for whoever delivers it.
EVENT_TYPES = {
    AlertKind.USAGE: "usage.threshold_reached",
    AlertKind.QUOTA: "quota.threshold_reached",
}


def event_type(alert: UsageAlert) -> str:
    return EVENT_TYPES[AlertKind(alert.kind)]


class AlertStore:
    def __init__(
        self, on_alert: Sequence[OnAlert] = (), after_commit: Sequence[AfterCommit] = ()
    ) -> None:
        self.on_alert: list[OnAlert] = list(on_alert)
        self.after_commit: list[AfterCommit] = list(after_commit)

    def observe(
        self, *, on_alert: OnAlert | None = None, after_commit: AfterCommit | None = None
    ) -> None:
        if on_alert is not None:
            self.on_alert.append(on_alert)
        if after_commit is not None:
            self.after_commit.append(after_commit)

    async def store(self, session: AsyncSession, rows: Sequence[AlertRow]) -> list[UsageAlert]:
        """The alerts that were new, stored in the session's transaction and handed to
        the `on_alert` callbacks there."""
        inserted = await insert_new(session, rows)
        stored = [UsageAlert(**row) for row in rows if row["id"] in inserted]
        for alert in stored:
            for callback in self.on_alert:
                await callback(session, alert)
        return stored

    async def announce(self, alerts: Sequence[UsageAlert]) -> None:
        """After the transaction that stored `alerts` committed."""
        for alert in alerts:
            for callback in self.after_commit:
                try:
                    await callback(alert)
                except Exception:
                    logger.exception(
                        "an alert's after-commit callback failed",
                        extra={"alert_id": str(alert.id), "callback": repr(callback)},
                    )
