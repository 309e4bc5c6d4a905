"""The writer of rate limits' alerts, behind the decisions.

A decision that crosses a threshold only appends the alert to an in-memory queue (no
await, no statement); a background task stores what is queued every `FLUSH_SECONDS`,
through `AlertStore` (duplicates skipped, the observers called), and announces what it
stored once committed. A failed write keeps its alerts queued and is tried again.

What a crash can lose: the alerts queued since the last write, at most `FLUSH_SECONDS`
of them plus one write under way. Those are lost for good (the counter has moved past the
threshold, and no later decision crosses it again in that window), which is why the
queue is written this often though alerts are rare. A graceful stop writes the queue.
While the database is away the queue keeps at most `MAX_QUEUED` alerts; past that, new
ones are dropped with a warning rather than fill the memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from app.alerts.store import AlertRow, AlertStore
from app.core.db import Database
from app.core.tasks import cancel

logger = logging.getLogger(__name__)
FLUSH_SECONDS = 0.1
MAX_BATCH = 500  # alerts per transaction
MAX_QUEUED = 10_000
RETRY_SECONDS = 1.0  # after a failed write
WARN_EVERY_SECONDS = 10.0


class AlertWriter:
    def __init__(
        self,
        db: Database,
        store: AlertStore,
        flush_seconds: float = FLUSH_SECONDS,
        *,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self._db = db
        self._store = store
        self._flush_seconds = flush_seconds
        self._max_queued = max_queued
        self._queue: list[AlertRow] = []
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._warned_at = -WARN_EVERY_SECONDS

    @property
    def queued(self) -> int:
        return len(self._queue)

    def enqueue(self, alerts: Sequence[AlertRow]) -> None:
        """Queue alerts for the next write; never waits."""
        room = self._max_queued - len(self._queue)
        if room < len(alerts):
            self._warn(f"the alert queue is full: {len(alerts) - max(room, 0)} alerts dropped")
        self._queue.extend(alerts[: max(room, 0)])

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        await cancel(self._task)
        try:
            await self.flush()
        except Exception:
            logger.exception("alerts could not be written at stop", extra={"lost": self.queued})

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_seconds)
            try:
                # `stop` cancels this task: a write under way finishes (or puts its alerts
                # back) rather than drop them.
                await asyncio.shield(self.flush())
            except Exception:
                self._warn("writing alerts failed; will retry", exc_info=True)
                await asyncio.sleep(RETRY_SECONDS)

    def _warn(self, message: str, *, exc_info: bool = False) -> None:
        if time.monotonic() - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = time.monotonic()
            logger.warning(message, exc_info=exc_info)

    async def flush(self) -> None:
        """Store what is queued now, a batch per transaction; on failure the batch goes
        back to the head of the queue."""
        async with self._lock:
            while self._queue:
                batch = self._queue[:MAX_BATCH]
                del self._queue[:MAX_BATCH]
                try:
                    async with self._db.transaction() as session:
                        stored = await self._store.store(session, batch)
                except BaseException:
                    self._queue[:0] = batch
                    raise
                await self._store.announce(stored)
