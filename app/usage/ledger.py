"""The usage ledger: every consume appended to SQL in batches, off the request's path.

A consume only appends to an in-memory buffer; a background task writes the buffer every
`FLUSH_SECONDS` in one transaction. A killed process therefore loses at most that much; a
graceful stop writes everything that is left.

The batch goes to the driver's own `executemany` with each value already in the form the
column's SQLAlchemy type would bind it: an ORM or Core insert costs several times more per
row than the consume that produced it, and it runs on the event loop every consume shares.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.store import CatalogEntry
from app.core.db import Database
from app.core.tasks import cancel
from app.models import UsageEvent

logger = logging.getLogger(__name__)
LEDGER: Table = UsageEvent.__table__  # type: ignore[attr-defined]
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

    def record(self, event: dict[str, Any]) -> None:
        """Append one event (the columns of `UsageEvent`, as `ledger_row` gives them);
        never waits."""
        self._buffer.append(event)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        await cancel(self._task)
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
                        await insert_rows(session, batch)
                except Exception:
                    self._buffer[:0] = batch
                    raise


class _BulkInsert:
    """One dialect's INSERT of ledger rows: the statement, and each column's converter."""

    def __init__(self, dialect: Dialect) -> None:
        columns = [column for column in LEDGER.columns if not column.primary_key]
        quote = dialect.identifier_preparer.quote
        names = ", ".join(quote(column.name) for column in columns)
        if dialect.paramstyle == "qmark":
            marks = ", ".join("?" for _ in columns)
        elif dialect.paramstyle == "numeric_dollar":
            marks = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
        else:
            raise NotImplementedError(f"parameter style {dialect.paramstyle}")
        self.sql = f"INSERT INTO {quote(LEDGER.name)} ({names}) VALUES ({marks})"
        self._columns: list[tuple[str, Callable[[Any], Any] | None]] = [
            (column.name, column.type.dialect_impl(dialect).bind_processor(dialect))
            for column in columns
        ]

    def values(self, row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(
            [
                row[name] if convert is None or row[name] is None else convert(row[name])
                for name, convert in self._columns
            ]
        )


_inserts: dict[str, _BulkInsert] = {}


async def insert_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Append ledger rows (as `ledger_row` gives them) in the session's transaction."""
    connection = await session.connection()
    dialect = connection.dialect
    insert = _inserts.get(dialect.name)
    if insert is None:
        insert = _inserts[dialect.name] = _BulkInsert(dialect)
    values = insert.values
    await connection.exec_driver_sql(insert.sql, [values(row) for row in rows])
