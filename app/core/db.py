"""Engine, sessions and the transaction scope that transports open per request.

Services never commit: they receive a session inside `Database.transaction()`, which
commits when the block ends normally and rolls back otherwise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql.expression import Executable

from app.core import metrics
from app.core.clock import Clock, utcnow
from app.core.errors import Conflict, DatabaseUnavailable, InvalidInput

logger = logging.getLogger(__name__)
SQLITE_BUSY_TIMEOUT_SECONDS = 30
_WRITE_OPTION = "billing_write"
# PostgreSQL gave up on the transaction because of a concurrent one: retrying can succeed.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock
# The connection is gone: class 08 (connection exception) and 57P01-57P05 (admin or crash
# shutdown, cannot connect now, database dropped, idle session timeout).
_CONNECTION_LOST_SQLSTATE_PREFIXES = ("08", "57P")


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """The PostgreSQL connections of one engine: `size` kept open, up to `max_overflow` more
    opened under load and closed when returned, a transaction waiting at most
    `timeout_seconds` for one (then 503), and each replaced once `recycle_seconds` old
    (None: never; for networks and poolers that cut idle connections). SQLite keeps
    SQLAlchemy's own pool."""

    size: int = 10
    max_overflow: int = 20
    timeout_seconds: float = 30.0
    recycle_seconds: int | None = None


def create_engine(url: str, pool: PoolLimits | None = None, **kwargs: Any) -> AsyncEngine:
    if is_sqlite(url):
        engine = create_async_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    pool = pool or PoolLimits()
    kwargs.setdefault("pool_size", pool.size)
    kwargs.setdefault("max_overflow", pool.max_overflow)
    kwargs.setdefault("pool_timeout", pool.timeout_seconds)
    kwargs.setdefault("pool_recycle", pool.recycle_seconds or -1)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL for concurrent readers, and writers that take the lock when they begin.

    pysqlite's own BEGIN is deferred, so two writers can both read and then fail to
    upgrade their lock; `BEGIN IMMEDIATE` makes writers queue on the busy timeout
    instead. Read-only transactions keep a deferred BEGIN so they never wait for writers.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        writes = connection.get_execution_options().get(_WRITE_OPTION, True)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


async def affected_rows(session: AsyncSession, statement: Executable) -> int:
    """Execute an UPDATE or DELETE and return how many rows it matched."""
    result = cast(CursorResult[Any], await session.execute(statement))
    return result.rowcount


async def insert_unique(session: AsyncSession, row: object) -> bool:
    """Insert `row` inside a savepoint: False when a unique constraint refuses it (a
    concurrent duplicate), with the rest of the transaction kept."""
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


def upsert(session: AsyncSession, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can say what happens ON CONFLICT, in the session's SQL dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


async def _connect(session: AsyncSession) -> None:
    """Take the session's connection before the block runs, so that failing to reach the
    database is told apart from the errors of the block itself.

    Whatever fails here means the database is unavailable: a refused, reset or timed-out
    socket (asyncpg raises the OSError as it is), a server that refuses the connection (not
    accepting connections, shutting down, too many clients), or SQLite's busy lock.
    """
    started = time.perf_counter()
    try:
        await session.connection()
    except (OSError, DBAPIError) as exc:
        logger.error("database connection failed", exc_info=exc)
        raise DatabaseUnavailable() from exc
    finally:
        metrics.DB_POOL_WAIT.observe(time.perf_counter() - started)


def _count_connections(engine: AsyncEngine) -> None:
    """Connections checked out of the pool, in the metrics."""
    event.listen(engine.sync_engine, "checkout", lambda *_: metrics.DB_POOL_IN_USE.inc())
    event.listen(engine.sync_engine, "checkin", lambda *_: metrics.DB_POOL_IN_USE.dec())


def _sqlstate(exc: DBAPIError) -> str | None:
    """The PostgreSQL error code of a driver error (None for SQLite)."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code if isinstance(code, str) else None


def _connection_lost(exc: DBAPIError) -> bool:
    sqlstate = _sqlstate(exc)
    return exc.connection_invalidated or (
        sqlstate is not None and sqlstate.startswith(_CONNECTION_LOST_SQLSTATE_PREFIXES)
    )


class Database:
    def __init__(
        self,
        url: str,
        *,
        clock: Clock = utcnow,
        pool: PoolLimits | None = None,
        **engine_kwargs: Any,
    ) -> None:
        self.url = url
        self.clock = clock
        self._commit_hooks: list[Callable[[AsyncSession], None]] = []
        self.engine = create_engine(url, pool, **engine_kwargs)
        _count_connections(self.engine)
        self._writer = async_sessionmaker(
            self.engine.execution_options(**{_WRITE_OPTION: True}), expire_on_commit=False
        )
        self._reader = async_sessionmaker(
            self.engine.execution_options(**{_WRITE_OPTION: False}), expire_on_commit=False
        )

    def on_commit(self, hook: Callable[[AsyncSession], None]) -> None:
        """Called after each committed transaction, with its session (and `session.info`)."""
        self._commit_hooks.append(hook)

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """One unit of work: commit on success, roll back on any exception.

        A unique-constraint violation, a deadlock or a serialization failure means a
        concurrent request changed the same rows: the caller gets a retryable 409 rather than
        an internal error. A value the database refuses is a 400. A database that cannot be
        reached, or that dropped the connection, is a 503; any other error of the block is
        left as it is.
        """
        maker = self._writer if write else self._reader
        try:
            async with maker(info={"clock": self.clock}) as session:
                async with session.begin():
                    await _connect(session)
                    yield session
                for hook in self._commit_hooks:
                    hook(session)
        except IntegrityError as exc:
            raise Conflict() from exc
        except DataError as exc:
            # A value the input checks let through but the database cannot store (text
            # PostgreSQL refuses, a number beyond its column): the request's fault.
            logger.warning("database refused a value", exc_info=exc)
            raise InvalidInput("A value of the request cannot be stored.") from exc
        except DBAPIError as exc:
            if _sqlstate(exc) in _RETRYABLE_SQLSTATES:
                raise Conflict() from exc
            if not (isinstance(exc, OperationalError) or _connection_lost(exc)):
                raise
            # SQLite: unreachable or locked; PostgreSQL: the connection went away.
            logger.error("database operation failed", exc_info=exc)
            raise DatabaseUnavailable() from exc
        except PoolTimeout as exc:  # no free connection
            logger.error("database operation failed", exc_info=exc)
            raise DatabaseUnavailable() from exc

    async def ping(self) -> None:
        async with self.transaction(write=False) as session:
            await session.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
