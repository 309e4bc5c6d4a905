"""Bring a database to the newest schema with Alembic, safely from several processes at once.

Every process migrates on start, so two of them may start at the same moment against one
database. They queue on a lock held for the whole upgrade: a PostgreSQL advisory lock on
the migrating connection, or an exclusive `flock` on a file next to the SQLite database.
The second one then finds the schema at head and does nothing.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from app.core.db import SQLITE_BUSY_TIMEOUT_SECONDS, is_sqlite

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS_DIR = ROOT / "migrations"
ALEMBIC_INI = ROOT / "alembic.ini"
# Any constant shared by every process of this service, and used for nothing else: "migrate"
# in ASCII. Never the serving lock's key (app/usage/serving_lock.py), which every serving
# process holds, shared, for as long as it runs: a migration waiting for it exclusively would
# wait for every server to stop, its own process's included.
ADVISORY_LOCK_KEY = 0x6D696772617465


def alembic_config(url: str) -> Config:
    """The project's Alembic configuration, aimed at `url`, usable from any directory."""
    config = Config(str(ALEMBIC_INI)) if ALEMBIC_INI.exists() else Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["database_url"] = url
    return config


def create_migration_engine(url: str) -> AsyncEngine:
    """An engine for schema changes: one connection, no pooling, real DDL transactions.

    pysqlite runs DDL outside any transaction and only begins one before DML; taking over
    BEGIN makes each SQLite migration atomic, as it is on PostgreSQL. Foreign keys stay
    off (SQLite's default) because batch migrations drop and recreate tables.

    The file is switched to WAL here, under the migration lock, before any server opens
    it: switching needs the database to itself, and two servers that open a fresh file at
    the same moment would otherwise race for it, one of them left waiting on a lock
    SQLite gives up on without calling the busy handler.
    """
    if not is_sqlite(url):
        return create_async_engine(url, poolclass=NullPool)
    engine = create_async_engine(
        url, poolclass=NullPool, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


async def upgrade_database(url: str, revision: str = "head") -> None:
    """`alembic upgrade <revision>`, creating the SQLite file and its directory if needed."""
    await _run(url, lambda config: command.upgrade(config, revision))


async def downgrade_database(url: str, revision: str) -> None:
    """`alembic downgrade <revision>`, under the same lock as upgrades."""
    await _run(url, lambda config: command.downgrade(config, revision))


def upgrade_database_sync(url: str, revision: str = "head") -> None:
    """`upgrade_database` for callers without an event loop, such as the CLI."""
    asyncio.run(upgrade_database(url, revision))


async def _run(url: str, operation: Callable[[Config], None]) -> None:
    async with _sqlite_file_lock(url):
        engine = create_migration_engine(url)
        try:
            async with engine.connect() as connection:
                await _take_advisory_lock(connection)
                await connection.run_sync(_run_with_connection, url, operation)
                await connection.commit()
        finally:
            await engine.dispose()


def _run_with_connection(
    connection: Connection, url: str, operation: Callable[[Config], None]
) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = connection
    operation(config)


async def _take_advisory_lock(connection: AsyncConnection) -> None:
    """On PostgreSQL, wait for the migration lock of this database.

    A session-level lock: it outlives the transactions Alembic commits and is released
    when the connection closes (the engine does not pool), even if the upgrade fails.
    """
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        await connection.commit()


@asynccontextmanager
async def _sqlite_file_lock(url: str) -> AsyncIterator[None]:
    """On SQLite, an exclusive `flock` on `<database>.migrate.lock` beside the database."""
    path = sqlite_path(url) if is_sqlite(url) else None
    if path is None:
        yield
        return
    fd = await asyncio.to_thread(_open_lock_file, path)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _open_lock_file(database: Path) -> int:
    database.parent.mkdir(parents=True, exist_ok=True)
    return os.open(database.with_name(database.name + ".migrate.lock"), os.O_RDWR | os.O_CREAT)


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve()
