"""The usage ledger: every consume appended to SQL in batches, off the request's path.

A consume only appends to an in-memory buffer; a background task writes the buffer every
`FLUSH_SECONDS` in one multi-row INSERT. A killed process therefore loses at most that
much; a graceful stop writes everything that is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from app.catalog.store import CatalogEntry
from app.core.db import Database
from app.models import UsageEvent

logger = logging.getLogger(__name__)
# The table itself rather than the ORM class: a plain multi-row insert, no ORM bookkeeping.
LEDGER = UsageEvent.__table__  # type: ignore[attr-defined]
FLUSH_SECONDS = 0.2
MAX_BATCH = 5000


def ledger_row(
    entry: CatalogEntry,
    subject_key: str,
    customer_id: uuid.UUID | None,
    user_id: uuid.UUID | None,
    *,
    type: str,
    amount: int,
    allowed: bool,
    at: datetime,
    window: str | None = None,
    window_start: datetime | None = None,
) -> dict[str, Any]:
    """The columns of one `UsageEvent`: rate limits and quotas write the same shape."""
    return {
        "subject": subject_key,
        "customer_id": customer_id,
        "user_id": user_id,
        "feature_id": entry.id,
        "service_name": entry.spec.service_name,
        "feature_key": entry.spec.feature_key,
        "type": type,
        "amount": amount,
        "allowed": allowed,
        "occurred_at": at,
        "window": window,
        "window_start": window_start,
    }


class Ledger:
    def __init__(self, db: Database, flush_seconds: float = FLUSH_SECONDS) -> None:
        self._db = db
        self._flush_seconds = flush_seconds
        self._buffer: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def record(self, **event: Any) -> None:
        """Append one event (the columns of `UsageEvent`); never waits."""
        self._buffer.append(event)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_seconds)
            try:
                # `stop` cancels this task: a write in progress must finish (or put its batch
                # back) rather than drop it, and `stop`'s own flush waits for it on the lock.
                await asyncio.shield(self.flush())
            except Exception:
                logger.exception("writing the usage ledger failed; will retry")

    async def flush(self) -> None:
        """Write everything buffered so far. On failure the events go back to the buffer."""
        async with self._lock:
            while self._buffer:
                batch, self._buffer = self._buffer[:MAX_BATCH], self._buffer[MAX_BATCH:]
                try:
                    async with self._db.transaction() as session:
                        await session.execute(insert(LEDGER), batch)
                except Exception:
                    self._buffer[:0] = batch
                    raise
