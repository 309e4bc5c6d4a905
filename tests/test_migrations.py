"""The migrations build exactly the schema the models describe, with the default tiers."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from app.core.db import Database
from app.core.migrate import ROOT, alembic_config, downgrade_database, upgrade_database
from app.models import metadata
from app.usage.serving_lock import ServingLock
from tests.support.databases import sqlite_url

TIER_NAMES = [
    "public",
    "free",
    "pro",
    "pro_plus",
    "business",
    "business_plus",
    "business_max",
    "enterprise",
    "enterprise_plus",
    "enterprise_max",
]


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[AsyncConnection]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            yield connection
    finally:
        await engine.dispose()


async def schema_diff(url: str) -> list[Any]:
    def compare(connection: sa.Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with connect(url) as connection:
        return await connection.run_sync(compare)


async def tier_rows(url: str) -> list[dict[str, Any]]:
    async with connect(url) as connection:
        result = await connection.execute(sa.text("SELECT * FROM tier ORDER BY sort_order, name"))
        return [dict(row) for row in result.mappings()]


async def current_revision(url: str) -> str | None:
    async with connect(url) as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def test_upgrade_builds_the_models_schema(empty_database_url: str) -> None:
    await upgrade_database(empty_database_url)

    assert await schema_diff(empty_database_url) == []
    assert await current_revision(empty_database_url) == head_revision()


async def test_default_tiers_are_installed_once(database_url: str) -> None:
    rows = await tier_rows(database_url)

    assert [row["name"] for row in rows] == TIER_NAMES
    assert [row["name"] for row in rows if row["is_default"]] == ["free"]
    assert [row["name"] for row in rows if not row["is_assignable"]] == ["public"]
    by_name = {row["name"]: row for row in rows}
    assert by_name["pro"]["price"] == 2900
    assert by_name["pro"]["display_name"] == "Pro"
    assert by_name["enterprise_max"]["member_limit"] == -1
    assert by_name["free"]["description"] == "Individual users getting started"
    assert all(row["is_active"] and row["stripe_price_id"] is None for row in rows)
    expected_id = uuid.uuid5(uuid.NAMESPACE_URL, "billing-api/tier/free")
    assert uuid.UUID(str(by_name["free"]["id"])) == expected_id


async def test_second_upgrade_changes_nothing(database_url: str) -> None:
    before = await tier_rows(database_url)

    await upgrade_database(database_url)

    assert await tier_rows(database_url) == before
    assert await schema_diff(database_url) == []


async def test_downgrade_to_base_and_upgrade_again(database_url: str) -> None:
    await downgrade_database(database_url, "base")
    async with connect(database_url) as connection:
        tables = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    assert set(tables) <= {"alembic_version"}

    await upgrade_database(database_url)

    assert await schema_diff(database_url) == []
    assert [row["name"] for row in await tier_rows(database_url)] == TIER_NAMES


async def test_default_tiers_keep_existing_rows(database_url: str) -> None:
    await downgrade_database(database_url, "0001")
    async with connect(database_url) as connection:
        for name, price, is_default in [("pro", 1, False), ("house", 0, True)]:
            await connection.execute(
                sa.text(
                    "INSERT INTO tier (id, name, display_name, description, price, member_limit,"
                    " is_active, is_default, is_assignable, sort_order) VALUES (:id, :name,"
                    " :name, '', :price, 1, true, :is_default, true, 99)"
                ),
                {"id": uuid.uuid4().hex, "name": name, "price": price, "is_default": is_default},
            )
        await connection.commit()

    await upgrade_database(database_url)

    by_name = {row["name"]: row for row in await tier_rows(database_url)}
    assert set(by_name) == {*TIER_NAMES, "house"}
    assert by_name["pro"]["price"] == 1
    assert [name for name, row in by_name.items() if row["is_default"]] == ["house"]


async def test_upgrade_creates_the_sqlite_directory(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "not" / "yet" / "billing.sqlite3")

    await upgrade_database(url)

    assert await schema_diff(url) == []


async def test_a_migrated_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    """Servers that open the file together must find it in WAL mode already: switching
    needs the file to itself, and racing for it fails without waiting on the busy timeout."""
    url = sqlite_url(tmp_path / "billing.sqlite3")

    await upgrade_database(url)

    async with connect(url) as connection:
        mode = await connection.scalar(sa.text("PRAGMA journal_mode"))
    assert mode == "wal"


async def test_concurrent_upgrades_from_two_processes(empty_database_url: str) -> None:
    script = "import sys; from app.core.migrate import upgrade_database_sync as up; up(sys.argv[1])"
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            script,
            empty_database_url,
            cwd=ROOT,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    results = await asyncio.gather(*(process.communicate() for process in processes))

    for process, (_, stderr) in zip(processes, results, strict=True):
        assert process.returncode == 0, stderr.decode()
    assert [row["name"] for row in await tier_rows(empty_database_url)] == TIER_NAMES
    assert await schema_diff(empty_database_url) == []


@pytest.mark.parametrize("exclusive", [False, True], ids=["shared", "exclusive"])
async def test_an_upgrade_runs_beside_serving_processes(
    empty_database_url: str, exclusive: bool
) -> None:
    """Every serving process holds its database's serving lock for as long as it runs (its
    own, on start, before it migrates): an upgrade must never wait for it. As observed on
    PostgreSQL, both took the same advisory lock, and a server that migrated on start
    waited forever for itself."""
    db = Database(empty_database_url)
    serving = ServingLock(db, exclusive=exclusive)
    await serving.acquire()
    try:
        await asyncio.wait_for(upgrade_database(empty_database_url), 30)
    finally:
        await serving.release()
        await db.dispose()
    assert await schema_diff(empty_database_url) == []
