"""Fresh, migrated databases for each test, cloned from a template migrated once.

SQLite: the template is a file; a test gets a copy of it. PostgreSQL: the template is a
database; a test gets `CREATE DATABASE ... TEMPLATE`, which copies files and is much
faster than running the migrations again.
"""

from __future__ import annotations

import itertools
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Literal

import asyncpg  # type: ignore[import-untyped]

from app.core.migrate import upgrade_database
from tests.support.postgres import PostgresCluster

Backend = Literal["sqlite", "postgresql"]
BACKENDS: tuple[Backend, ...] = ("sqlite", "postgresql")
DATABASE_FILE = "billing.sqlite3"


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


class SqliteTemplate:
    backend: Backend = "sqlite"

    def __init__(self, directory: Path) -> None:
        self.path = directory / DATABASE_FILE

    async def migrate(self) -> None:
        await upgrade_database(sqlite_url(self.path))
        # A copy must be the whole database: fold the write-ahead log into the main file.
        # The file stays in WAL mode, as every database the service migrates is.
        with closing(sqlite3.connect(self.path)) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def clone(self, directory: Path) -> str:
        target = directory / DATABASE_FILE
        shutil.copyfile(self.path, target)
        return sqlite_url(target)

    async def empty(self, directory: Path) -> str:
        return sqlite_url(directory / DATABASE_FILE)

    async def release(self, url: str) -> None:
        """Files go with the test's temporary directory."""


class PostgresTemplate:
    backend: Backend = "postgresql"
    name = "billing_template"

    def __init__(self, cluster: PostgresCluster) -> None:
        self.cluster = cluster
        self._numbers = itertools.count(1)

    async def migrate(self) -> None:
        await self._admin(f'CREATE DATABASE "{self.name}"')
        await upgrade_database(self.cluster.url(self.name))
        # Cloning fails while anything is connected to the template; make sure nothing can.
        await self._admin(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS false')

    async def clone(self, directory: Path) -> str:
        return await self._create(f"TEMPLATE {self.name}")

    async def empty(self, directory: Path) -> str:
        return await self._create("TEMPLATE template0")

    async def release(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        await self._admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        await self._admin(f'DROP DATABASE IF EXISTS "{name}"')

    async def _create(self, source: str) -> str:
        name = f"test_{next(self._numbers)}"
        await self._admin(f'CREATE DATABASE "{name}" {source}')
        return self.cluster.url(name)

    async def _admin(self, sql: str, *args: object) -> None:
        connection = await asyncpg.connect(self.cluster.dsn())
        try:
            await connection.execute(sql, *args)
        finally:
            await connection.close()


DatabaseTemplate = SqliteTemplate | PostgresTemplate
