"""Rebuilding hour, day and month counters from the ledger when their storage lost them.

In-process counters are lost with the process; Redis counters with a flush or a restart
of Redis. A flag kept beside the counters says they are intact: whoever finds it missing
(and sets it first) raises each counter of the current windows to the ledger's total.
Minute windows are short enough to start again from zero.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import func, select
from sqlmodel import col

from app.catalog.model import Window
from app.core.clock import Clock
from app.core.db import Database
from app.core.tasks import cancel
from app.models import UsageEvent
from app.usage.consume import EXPIRY_SLACK_SECONDS, RATE_LIMIT_EVENT, counter_key
from app.usage.counters import CounterStore
from app.usage.windows import window_bounds

logger = logging.getLogger(__name__)
INTACT_FLAG = "rl:intact"
RESEEDED = (Window.HOUR, Window.DAY, Window.MONTH)
CHECK_SECONDS = 1.0
FLAG_SECONDS = 10 * 365 * 24 * 3600  # for as long as the storage keeps it
COUNTER_COLUMNS = (
    col(UsageEvent.subject),
    col(UsageEvent.service_name),
    col(UsageEvent.feature_key),
    col(UsageEvent.window),
    col(UsageEvent.window_start),
)


async def reseed_counters(db: Database, counters: CounterStore, clock: Clock) -> int:
    """Raise each counter of a current window to the ledger's allowed amount in it;
    returns the counters touched."""
    now = clock()
    current = {window: window_bounds(window, now) for window in RESEEDED}
    oldest = min(start for start, _ in current.values())
    async with db.transaction(write=False) as session:
        rows = (
            await session.execute(
                select(*COUNTER_COLUMNS, func.sum(col(UsageEvent.amount)))
                .where(
                    col(UsageEvent.type) == RATE_LIMIT_EVENT,
                    col(UsageEvent.allowed),
                    col(UsageEvent.window).in_([window.value for window in RESEEDED]),
                    col(UsageEvent.window_start) >= oldest,
                )
                .group_by(*COUNTER_COLUMNS)
            )
        ).all()
    touched = 0
    for subject, service, feature, window, start, total in rows:
        window_start, window_end = current[Window(str(window))]
        if start is None or start != window_start or not total:
            continue
        expiry = int((window_end - now).total_seconds()) + EXPIRY_SLACK_SECONDS
        key = counter_key(subject, service, feature, int(start.timestamp()))
        await counters.seed(key, int(total), expiry)
        touched += 1
    return touched


class CounterGuard:
    """Re-seeds at start when the counters are not intact, then watches for their loss."""

    def __init__(self, db: Database, counters: CounterStore, clock: Clock) -> None:
        self._db = db
        self._counters = counters
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def start(self, *, watch: bool) -> None:
        await self.ensure_intact()
        if watch:
            self._task = asyncio.create_task(self._watch())

    async def ensure_intact(self) -> None:
        """Seeding only raises counters to the ledger's totals, so processes that find the
        flag missing at once may all seed; the flag is set only once seeding succeeded, so
        a failure (database down) is retried at the next check."""
        if await self._counters.has_flag(INTACT_FLAG):
            return
        touched = await reseed_counters(self._db, self._counters, self._clock)
        await self._counters.set_flag(INTACT_FLAG, FLAG_SECONDS)
        logger.info("counters re-seeded from the ledger", extra={"counters": touched})

    async def stop(self) -> None:
        await cancel(self._task)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            try:
                await self.ensure_intact()
            except Exception:
                logger.exception("checking the counter storage failed")
