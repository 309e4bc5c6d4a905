"""Rebuilding counters from the ledger when their storage lost them (SPEC §3.4, §3.5).

In-process counters are lost with the process; Redis counters with a flush, a restart of
Redis or the eviction of the flag that says they are intact. Every decision reads that
flag with its counters (`app.usage.counters`), so the loss is noticed by the first
decision after it, which counts nothing and asks the guard here to rebuild:

1. One process takes the rebuild's lock; the others wait for the flag to come back.
2. The rebuilder waits until every serving process has written its ledger rows of the
   decisions begun before the loss. Each process publishes, beside the counters and on
   Redis's clock, the instant up to which its rows are written (`written_through`, held
   back by decisions still waiting for Redis); a process silent for
   `WRITER_TIMEOUT_SECONDS` is gone, and with it the rows it had not written. One that
   does not catch up in time leaves the counters lost (decisions answer 503).
3. It raises each counter of a current window to the ledger's allowed total, its own
   unwritten rows included, then sets the flag, if it still holds the lock (a loss
   during the rebuild took the lock too). Decisions waiting for it go on.

Seeding only raises counters, so a rebuild after the flag alone was lost counts nothing
twice. Until the flag is back no decision counts, so none admits beyond a limit. A
Redis restarted from a snapshot brings the flag back with old counters: its new run id,
looked at every second, has the flag dropped and the counters rebuilt.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import col

from app.catalog.model import Window
from app.core import metrics
from app.core.clock import Clock
from app.core.db import Database
from app.core.errors import CountersUnavailable
from app.core.tasks import cancel
from app.models import UsageEvent
from app.usage.consume import EXPIRY_SLACK_SECONDS, RATE_LIMIT_EVENT, counter_key
from app.usage.counters import INTACT_FLAG, CounterStore
from app.usage.ledger import Ledger, Row
from app.usage.windows import window_bounds

__all__ = ["INTACT_FLAG", "CounterGuard", "reseed_counters"]

logger = logging.getLogger(__name__)
FLAG_SECONDS = 10 * 365 * 24 * 3600  # for as long as the storage keeps it
CHECK_SECONDS = 1.0  # the flag is also looked at this often when no decision comes
WRITERS = "rl:writers"  # process id -> "<heartbeat> <written through>" (unix seconds)
REBUILD_LOCK = "rl:rebuilding"
HEARTBEAT_SECONDS = 0.1
# Every live process has published again this long after a loss (which erased the table).
SETTLE_SECONDS = 0.5  # five heartbeats
WRITER_TIMEOUT_SECONDS = 2.0
WAIT_FOR_WRITERS_SECONDS = 5.0
# Shorter than a decision waits: a rebuilder that died frees the rebuild for another.
REBUILD_LOCK_SECONDS = 10
RECOVER_TIMEOUT_SECONDS = 15.0
POLL_SECONDS = 0.02
WARN_EVERY_SECONDS = 60.0
COUNTER_COLUMNS = (
    col(UsageEvent.subject),
    col(UsageEvent.service_name),
    col(UsageEvent.feature_key),
    col(UsageEvent.window),
    col(UsageEvent.window_start),
)
Totals = Counter[tuple[str, str, str, Window, int]]


async def reseed_counters(
    db: Database, counters: CounterStore, clock: Clock, ledger: Ledger
) -> int:
    """Raise each counter of a current window to the allowed amount the ledger holds in
    it, written or not; returns the counters touched."""
    now = clock()
    current = {window: window_bounds(window, now) for window in Window}
    starts = {window: int(start.timestamp()) for window, (start, _) in current.items()}
    async with ledger.unwritten() as unwritten:
        totals = await _written_totals(db, starts, min(start for start, _ in current.values()))
        totals.update(_unwritten_totals(unwritten, starts))
    for (subject, service, feature, window, start), total in totals.items():
        expiry = int((current[window][1] - now).total_seconds()) + EXPIRY_SLACK_SECONDS
        await counters.seed(counter_key(subject, service, feature, start), total, expiry)
    return len(totals)


async def _written_totals(db: Database, starts: dict[Window, int], oldest: datetime) -> Totals:
    async with db.transaction(write=False) as session:
        rows = (
            await session.execute(
                select(*COUNTER_COLUMNS, func.sum(col(UsageEvent.amount)))
                .where(
                    col(UsageEvent.type) == RATE_LIMIT_EVENT,
                    col(UsageEvent.allowed),
                    col(UsageEvent.window_start) >= oldest,
                )
                .group_by(*COUNTER_COLUMNS)
            )
        ).all()
    totals: Totals = Counter()
    for subject, service, feature, window, start, total in rows:
        key = _current(starts, subject, service, feature, window, start)
        if key is not None and total:
            totals[key] += int(total)
    return totals


def _unwritten_totals(rows: list[Row], starts: dict[Window, int]) -> Totals:
    totals: Totals = Counter()
    for row in rows:
        if row["type"] != RATE_LIMIT_EVENT or not row["allowed"]:
            continue
        key = _current(
            starts,
            row["subject"],
            row["service_name"],
            row["feature_key"],
            row["window"],
            row["window_start"],
        )
        if key is not None:
            totals[key] += row["amount"]
    return totals


def _current(
    starts: dict[Window, int],
    subject: str,
    service: str,
    feature: str,
    window: str | None,
    start: datetime | None,
) -> tuple[str, str, str, Window, int] | None:
    """The counter a ledger row counts in, if its window is the current one."""
    if window is None or start is None:
        return None
    kind = Window(window)
    timestamp = int(start.timestamp())
    return (subject, service, feature, kind, timestamp) if starts[kind] == timestamp else None


class CounterGuard:
    """Rebuilds lost counters: at start when they are not intact, and whenever a decision
    (or the periodic check) finds them lost. With shared counters it also publishes how
    far this process's ledger is written, for whichever process rebuilds."""

    def __init__(self, db: Database, counters: CounterStore, clock: Clock, ledger: Ledger) -> None:
        self._db = db
        self._counters = counters
        self._clock = clock
        self._ledger = ledger
        self._process = uuid.uuid4().hex
        self._recovery: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        if counters.shared:
            counters.recover = self.recover

    async def start(self) -> None:
        if self._counters.shared:
            await self._refuse_eviction()
            await self._counters.restarted()  # the instance whose counters are checked now
            await self._publish()
            self._tasks = [asyncio.create_task(self._beat()), asyncio.create_task(self._watch())]
        await self.ensure_intact()

    async def stop(self) -> None:
        for task in (*self._tasks, self._recovery):
            await cancel(task)
        if self._counters.shared:
            try:
                await asyncio.wait_for(self._counters.drop_fields(WRITERS, [self._process]), 1)
            except Exception:  # Redis away or slow: the entry lapses by itself
                logger.warning("could not withdraw from the counter storage's writers")

    async def ensure_intact(self) -> None:
        if not await self._counters.has_flag(INTACT_FLAG):
            await self.recover()

    async def recover(self) -> None:
        """Once the counters are intact again. Every decision of this process that found
        them lost waits on the same recovery, for `RECOVER_TIMEOUT_SECONDS` at most."""
        if self._recovery is None or self._recovery.done():
            self._recovery = asyncio.create_task(self._recover())
        try:
            await asyncio.wait_for(asyncio.shield(self._recovery), RECOVER_TIMEOUT_SECONDS)
        except TimeoutError:
            raise CountersUnavailable() from None

    async def _recover(self) -> None:
        lost_at = await self._counters.server_time()
        deadline = time.monotonic() + RECOVER_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if await self._counters.has_flag(INTACT_FLAG):
                return
            token = uuid.uuid4().hex
            if await self._counters.put_text(REBUILD_LOCK, token, REBUILD_LOCK_SECONDS):
                try:
                    await self._rebuild(lost_at, token)
                finally:
                    if await self._counters.get_text(REBUILD_LOCK) == token:
                        await self._counters.delete(REBUILD_LOCK)
                return
            await asyncio.sleep(POLL_SECONDS)
        raise CountersUnavailable()

    async def _rebuild(self, lost_at: float, token: str) -> None:
        if self._counters.shared:
            await self._wait_for_writers(lost_at)
        touched = await reseed_counters(self._db, self._counters, self._clock, self._ledger)
        # Only while this rebuild still holds the lock: a storage lost again meanwhile
        # (which took the lock with it) is rebuilt again, not marked intact half-seeded.
        if await self._counters.set_flag_holding(
            INTACT_FLAG, FLAG_SECONDS, lock=REBUILD_LOCK, token=token
        ):
            logger.info("counters re-seeded from the ledger", extra={"counters": touched})
            metrics.COUNTER_RESEEDS.inc()

    async def _wait_for_writers(self, lost_at: float) -> None:
        """Until every live process has written the rows of its decisions begun before
        the loss; a rebuild without them would count too little, so past the deadline
        none is made (the decisions waiting answer 503 and the next one tries again)."""
        await asyncio.sleep(max(0.0, lost_at + SETTLE_SECONDS - await self._counters.server_time()))
        deadline = time.monotonic() + WAIT_FOR_WRITERS_SECONDS
        while behind := [p for p, through in (await self._writers()).items() if through < lost_at]:
            if time.monotonic() > deadline:
                logger.warning(
                    "counters not rebuilt: %d processes have not written their ledger",
                    len(behind),
                )
                raise CountersUnavailable()
            await asyncio.sleep(HEARTBEAT_SECONDS / 2)

    async def _writers(self) -> dict[str, float]:
        """Live processes by how far their ledger is written; the silent ones dropped."""
        now, live, gone = await self._counters.server_time(), {}, []
        for process, value in (await self._counters.fields(WRITERS)).items():
            beat, through = (float(part) for part in value.split())
            if now - beat > WRITER_TIMEOUT_SECONDS:
                gone.append(process)
            else:
                live[process] = through
        await self._counters.drop_fields(WRITERS, gone)
        return live

    async def _publish(self) -> None:
        """This process's heartbeat and how far its ledger is written, on the storage's
        clock (which every process reads alike), from this process's clock and its
        offset, measured now."""
        before = time.time()
        server = await self._counters.server_time()
        offset = server - (before + time.time()) / 2
        through = self._ledger.written_through()
        waiting = self._counters.oldest_call()
        if waiting is not None:
            through = min(through, waiting)
        through += offset
        await self._counters.put_field(WRITERS, self._process, f"{server} {through}")

    async def _refuse_eviction(self) -> None:
        """Counters are worth keeping only whole: a storage that may evict some of them
        under memory pressure would let those start again from zero, unnoticed."""
        policy = await self._counters.eviction_policy()
        if policy is not None:
            raise RuntimeError(
                f"The counter storage (BILLING_RATE_LIMIT_STORAGE) evicts keys when it is "
                f"full (maxmemory-policy {policy}): a counter evicted alone would start again "
                f"from zero. Set its maxmemory-policy to noeviction, or its maxmemory to 0."
            )

    async def _check(self) -> None:
        """The flag, and a restart of the storage: one restored from a snapshot brings
        the flag back with counters older than the ledger, so it is rebuilt."""
        if await self._counters.restarted():
            await self._counters.delete(INTACT_FLAG)
        await self.ensure_intact()

    async def _beat(self) -> None:
        await self._every(HEARTBEAT_SECONDS, self._publish, "publishing the ledger's progress")

    async def _watch(self) -> None:
        await self._every(CHECK_SECONDS, self._check, "checking the counter storage")

    @staticmethod
    async def _every(seconds: float, work: Callable[[], Awaitable[None]], what: str) -> None:
        """`work` every `seconds`; a failure (Redis away) is logged once a minute."""
        warned_at = -math.inf
        while True:
            await asyncio.sleep(seconds)
            try:
                await work()
            except Exception:
                if time.monotonic() - warned_at >= WARN_EVERY_SECONDS:
                    warned_at = time.monotonic()
                    logger.exception("%s failed", what)
