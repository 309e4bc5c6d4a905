"""Operations endpoints, and the embedded default starting from nothing."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from app.core.migrate import upgrade_database
from tests.support.api import Api, running_api, settings_for
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
