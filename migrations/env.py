"""Alembic environment: async engines for SQLite (aiosqlite) and PostgreSQL (asyncpg).

The database URL is `config.attributes["database_url"]` when set by the caller, else the
service's own setting. A caller that already holds a connection (the service at start-up,
the tests) passes it as `config.attributes["connection"]` and it is used as is.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import make_url
from sqlalchemy.engine import Connection

from app.core.migrate import create_migration_engine
from app.models import metadata
from app.settings import Settings

config = context.config


def database_url() -> str:
    url = config.attributes.get("database_url")
    return str(url) if url else Settings().resolved_database_url


def configure(dialect: str, **kwargs: Any) -> None:
    context.configure(
        target_metadata=metadata,
        render_as_batch=dialect == "sqlite",
        compare_type=True,
        # The migration engine issues a real BEGIN on SQLite, so an upgrade is one
        # transaction there as it is on PostgreSQL.
        transactional_ddl=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    url = database_url()
    configure(
        make_url(url).get_backend_name(),
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    configure(connection.dialect.name, connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_migration_engine(database_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        asyncio.run(run_async_migrations())
    else:
        do_run_migrations(connection)


# The command line gets alembic.ini's logging; a host process keeps its own.
if config.config_file_name is not None and "connection" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
