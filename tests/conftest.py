"""Fixtures shared by every test.

- `database_url`: a fresh, migrated database for this test, as an async SQLAlchemy URL.
  Tests using it run once per backend, `[sqlite]` and `[postgresql]`; `--db` picks one.
- `empty_database_url`: the same, but with no schema at all.
- `database_backend`: "sqlite" or "postgresql", for the rare test that must know.
- `sqlite_database_url`: a fresh, migrated SQLite database, for tests whose subject does
  not depend on the database backend (they run once, whatever `--db` says).
- `api`: the app on a fresh database over HTTP, with helpers to act as users; `clock`
  moves its time.
- `postgres_cluster`: the session's PostgreSQL server, started on first use.
- `redis_server`: the session's throwaway Redis server, started on first use;
  `redis_url`: its URL, with every key flushed before the test.
- `storage`: a counter storage URI; tests using it run once per storage, `[memory]` and
  `[redis]` (a flushed `redis_url`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.api import Api, running_api, settings_for
from tests.support.clock import MovableClock
from tests.support.databases import (
    BACKENDS,
    Backend,
    DatabaseTemplate,
    PostgresTemplate,
    SqliteTemplate,
)
from tests.support.fake_stripe import FakeStripe
from tests.support.logs import Records, recording
from tests.support.postgres import PostgresCluster
from tests.support.redis import RedisServer
from tests.support.stripe import API_KEY, stripe_settings


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=[*BACKENDS, "all"],
        default="all",
        help="database backend(s) to run database tests against (default: all)",
    )


def selected_backends(config: pytest.Config) -> list[Backend]:
    choice = config.getoption("--db")
    return list(BACKENDS) if choice == "all" else [choice]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_template" in metafunc.fixturenames:
        backends = selected_backends(metafunc.config)
        marker = metafunc.definition.get_closest_marker("backends")
        if marker is not None:
            backends = [backend for backend in backends if backend in marker.args]
        metafunc.parametrize("database_template", backends, indirect=True, scope="session")


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A Redis shared by nothing else: counters of earlier tests are gone."""
    redis_server.flush()
    return redis_server.url()


@pytest.fixture(params=["memory", "redis"])
def storage(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    url: str = request.getfixturevalue("redis_url")
    return url


@pytest.fixture(scope="session")
async def database_template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> DatabaseTemplate:
    backend: Backend = request.param
    template: DatabaseTemplate
    if backend == "sqlite":
        template = SqliteTemplate(tmp_path_factory.mktemp("sqlite-template"))
    else:
        template = PostgresTemplate(request.getfixturevalue("postgres_cluster"))
    await template.migrate()
    return template


@pytest.fixture(scope="session")
async def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    template = SqliteTemplate(tmp_path_factory.mktemp("sqlite-only-template"))
    await template.migrate()
    return template


@pytest.fixture
async def sqlite_database_url(sqlite_template: SqliteTemplate, tmp_path: Path) -> str:
    return await sqlite_template.clone(tmp_path)


@pytest.fixture
def database_backend(database_template: DatabaseTemplate) -> Backend:
    return database_template.backend


@pytest.fixture
async def database_url(database_template: DatabaseTemplate, tmp_path: Path) -> AsyncIterator[str]:
    url = await database_template.clone(tmp_path)
    try:
        yield url
    finally:
        await database_template.release(url)


@pytest.fixture
async def empty_database_url(
    database_template: DatabaseTemplate, tmp_path: Path
) -> AsyncIterator[str]:
    url = await database_template.empty(tmp_path)
    try:
        yield url
    finally:
        await database_template.release(url)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
async def api(database_url: str, tmp_path: Path, clock: MovableClock) -> AsyncIterator[Api]:
    """The app over HTTP (ASGI) on a fresh database, with a clock the test can move."""
    async with running_api(settings_for(database_url, tmp_path), clock) as api:
        yield api


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe.running(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture
async def stripe_api(
    database_url: str, tmp_path: Path, fake_stripe: FakeStripe, clock: MovableClock
) -> AsyncIterator[Api]:
    """The app with Stripe configured, against the fake Stripe on loopback
    (`tests.support.fake_stripe`), reached through the real SDK."""
    async with running_api(stripe_settings(database_url, tmp_path, fake_stripe), clock) as api:
        yield api


@pytest.fixture
def error_log() -> Iterator[Records]:
    """What `app.errors` logged during the test."""
    with recording() as records:
        yield records
