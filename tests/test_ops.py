"""Operations endpoints, and the embedded default starting from nothing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from app.core.db import Database
from app.core.errors import Conflict, DatabaseUnavailable
from app.core.migrate import upgrade_database
from tests.support.api import Api, running_api, settings_for
from tests.support.postgres import PostgresCluster
from tests.support.servers import run_servers


async def test_health_and_readiness(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert (ready.status_code, ready.json()["status"]) == (200, "ready")


def replace_with_directory(path: Path) -> None:
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()
    path.mkdir()


async def test_not_ready_when_the_database_goes_away(tmp_path: Path) -> None:
    """The database file is replaced by a directory under a running server: new connections
    fail, so readiness reports 503 while liveness stays 200."""
    path = tmp_path / "db.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade_database(url)
    async with running_api(settings_for(url, tmp_path)) as api:
        api.expect_server_errors = True
        assert (await api.client.get("/readyz")).status_code == 200
        replace_with_directory(path)
        await api.container.db.engine.dispose()
        assert (await api.client.get("/healthz")).status_code == 200
        response = await api.client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "DATABASE_UNAVAILABLE"


def test_first_start_with_no_configuration(tmp_path: Path) -> None:
    """A fresh data directory: the server creates and migrates SQLite, generates its signing
    secret, and a token minted by the CLI works against it."""
    data_dir = tmp_path / "data"
    env = {"BILLING_DATA_DIR": str(data_dir), "BILLING_DATABASE_URL": "", "BILLING_JWT_SECRET": ""}
    with run_servers(1, env) as (url,):
        assert (data_dir / "billing.sqlite3").exists()
        token = subprocess.run(
            [
                sys.executable,
                "-m",
                "app.cli",
                "token",
                "--user-id",
                str(uuid.uuid4()),
                "--email",
                "first@example.com",
                "--admin",
            ],
            env={**env, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{url}/readyz").status_code == 200
        tiers = httpx.get(f"{url}/api/billing/v1/admin/tiers", headers=headers)
        assert len(tiers.json()["tiers"]) == 10
        page = httpx.get(f"{url}/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert "graphiql" in page.text.lower()


def test_forwarded_for_is_believed_only_from_the_configured_proxies(tmp_path: Path) -> None:
    """Through a real `uvicorn app.main:app`: uvicorn's own proxy handling (which trusts
    loopback by default) must not rewrite the peer before BILLING_TRUSTED_PROXIES is applied."""

    def identifier(url: str, *forwarded_for: str) -> str:
        headers = [("X-Forwarded-For", value) for value in forwarded_for]
        response = httpx.get(f"{url}/api/billing/v1/limits/usage/ip", headers=headers)
        return str(response.json()["identifier"])

    env = {"BILLING_DATA_DIR": str(tmp_path / "a"), "BILLING_DATABASE_URL": ""}
    with run_servers(1, {**env, "BILLING_TRUSTED_PROXIES": ""}) as (url,):
        assert identifier(url, "203.0.113.9") == "127.0.0.1"
    env = {"BILLING_DATA_DIR": str(tmp_path / "b"), "BILLING_DATABASE_URL": ""}
    with run_servers(1, {**env, "BILLING_TRUSTED_PROXIES": "127.0.0.1"}) as (url,):
        assert identifier(url, "203.0.113.9") == "203.0.113.9"
        # The right-most untrusted entry: the one the proxy wrote, not the caller's own.
        assert identifier(url, "198.51.100.1, 198.51.100.2") == "198.51.100.2"
        # Repeated header lines are one list.
        assert identifier(url, "127.0.0.1", "198.51.100.3") == "198.51.100.3"
        assert identifier(url, "198.51.100.4", "127.0.0.1") == "198.51.100.4"


def test_forged_forwarded_for_entries_share_the_anonymous_budget(tmp_path: Path) -> None:
    """Through a trusted proxy, a caller that writes a fresh address of its own left of
    the one the proxy wrote still spends the budget of the address the proxy saw."""
    budget, sent = 120, 200
    env = {
        "BILLING_DATA_DIR": str(tmp_path),
        "BILLING_DATABASE_URL": "",
        "BILLING_TRUSTED_PROXIES": "127.0.0.1",
        "BILLING_SELF_LIMIT_ANONYMOUS": f"{budget}/minute",
    }
    with run_servers(1, env) as (url,), httpx.Client(base_url=url) as client:
        _wait_for_a_fresh_minute()  # the budget's windows are clock minutes
        statuses, codes = [], set()
        for n in range(sent):
            forged = f"198.18.{n // 250}.{n % 250 + 1}"
            headers = {"X-Forwarded-For": f"{forged}, 203.0.113.5"}
            response = client.get("/api/billing/v1/limits/ip", headers=headers)
            statuses.append(response.status_code)
            if response.status_code == 429:
                codes.add(response.json()["error"]["code"])
    assert statuses == [200] * budget + [429] * (sent - budget)
    assert codes <= {"TOO_MANY_REQUESTS", "RATE_LIMITED"}, codes


def _wait_for_a_fresh_minute(needed_seconds: float = 20.0) -> None:
    left = 60.0 - time.time() % 60.0
    if left < needed_seconds:
        time.sleep(left + 0.1)


class _TcpRelay:
    """A TCP relay on a port of its own to another address, that can go away and come back:
    while it is down, connections to its port are refused and those it carried are cut."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.target_port
            )
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, upstream_writer}
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()


@pytest.mark.backends("postgresql")
async def test_calls_answer_503_while_postgresql_is_unreachable(
    database_url: str, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    """PostgreSQL goes away under a running server — its port refuses connections, then the
    database refuses them — and comes back: ordinary REST and GraphQL calls answer 503
    DATABASE_UNAVAILABLE meanwhile (not 500), and work again afterwards."""
    relay = _TcpRelay(postgres_cluster.port)
    await relay.start()
    url = database_url.replace(f":{postgres_cluster.port}/", f":{relay.port}/")
    database = database_url.rsplit("/", 1)[1]
    async with running_api(settings_for(url, tmp_path)) as api:
        admin = api.admin()

        async def assert_unavailable() -> None:
            response = await api.call("GET", "/admin/tiers", admin)
            assert response.status_code == 503, response.text
            error = response.json()["error"]
            assert error["code"] == "DATABASE_UNAVAILABLE"
            assert response.headers["x-error"] == error["message"]
            assert response.headers["x-error-id"] == error["error_id"]
            body = await api.graphql("{ tiers { name } }", admin)
            assert body["errors"][0]["extensions"]["code"] == "DATABASE_UNAVAILABLE"
            assert (await api.client.get("/readyz")).status_code == 503
            assert (await api.client.get("/healthz")).status_code == 200

        async def assert_available() -> None:
            response = await api.call("GET", "/admin/tiers", admin)
            assert (response.status_code, len(response.json()["tiers"])) == (200, 10)
            body = await api.graphql("{ tiers { name } }", admin)
            assert "errors" not in body and len(body["data"]["tiers"]) == 10
            assert (await api.client.get("/readyz")).status_code == 200

        await assert_available()
        api.expect_server_errors = True
        await relay.stop()  # nothing listens on the port: ConnectionRefusedError
        await assert_unavailable()
        await relay.start()
        await assert_available()

        superuser = await asyncpg.connect(postgres_cluster.dsn())
        try:
            await superuser.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
            await superuser.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                database,
            )
            await assert_unavailable()
            await superuser.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
        finally:
            await superuser.close()
        await assert_available()
    await relay.stop()


@pytest.mark.backends("postgresql")
async def test_how_postgresql_errors_of_a_transaction_are_told(database_url: str) -> None:
    """A deadlock is the retryable 409, a connection lost in the middle of a transaction is
    a 503, and errors that are not the database's fault stay what they are."""
    db = Database(database_url)
    try:
        async with db.transaction(write=False) as session:
            first, second = (await session.scalars(text("SELECT id FROM tier LIMIT 2"))).all()
        locked = {first: asyncio.Event(), second: asyncio.Event()}

        async def lock_both(mine: object, theirs: object) -> None:
            lock = text("SELECT 1 FROM tier WHERE id = :id FOR UPDATE")
            async with db.transaction() as session:
                await session.execute(lock, {"id": mine})
                locked[mine].set()
                await locked[theirs].wait()
                await session.execute(lock, {"id": theirs})

        outcomes = await asyncio.gather(
            lock_both(first, second), lock_both(second, first), return_exceptions=True
        )
        assert None in outcomes  # one of the two goes through...
        assert any(isinstance(outcome, Conflict) for outcome in outcomes), outcomes  # ...one: 409

        with pytest.raises(DatabaseUnavailable):
            async with db.transaction(write=False) as session:
                await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        async with db.transaction(write=False) as session:  # a new connection
            assert await session.scalar(text("SELECT 1")) == 1

        with pytest.raises(ProgrammingError):
            async with db.transaction(write=False) as session:
                await session.execute(text("SELECT * FROM no_such_table"))
        with pytest.raises(FileNotFoundError):
            async with db.transaction() as session:
                await session.execute(text("SELECT 1"))
                raise FileNotFoundError("not the database's doing")
    finally:
        await db.dispose()
