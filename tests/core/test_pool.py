"""Each process's PostgreSQL connections, as the settings say (README "Scaling out")."""

from __future__ import annotations

import time
from pathlib import Path

import pydantic
import pytest

from app.container import Container
from app.core.errors import DatabaseUnavailable
from app.settings import Settings
from tests.support.api import settings_for


@pytest.mark.backends("postgresql")
async def test_a_transaction_waits_for_a_connection_as_long_as_configured(
    database_url: str, tmp_path: Path
) -> None:
    settings = settings_for(
        database_url,
        tmp_path,
        db_pool_size=1,
        db_max_overflow=1,
        db_pool_timeout_seconds=0.5,
        db_pool_recycle_seconds=600,
    )
    db = Container(settings).db
    try:
        assert db.engine.pool._recycle == 600
        async with db.transaction(write=False), db.transaction(write=False):
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailable):
                async with db.transaction(write=False):
                    pass
            assert 0.5 <= time.monotonic() - started < 5
        async with db.transaction(write=False):  # returned to the pool
            pass
    finally:
        await db.dispose()


def test_the_environment_sets_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_DB_POOL_SIZE", "5")
    monkeypatch.setenv("BILLING_DB_MAX_OVERFLOW", "0")
    monkeypatch.setenv("BILLING_DB_POOL_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("BILLING_DB_POOL_RECYCLE_SECONDS", "")
    settings = Settings()
    assert (settings.db_pool_size, settings.db_max_overflow) == (5, 0)
    assert (settings.db_pool_timeout_seconds, settings.db_pool_recycle_seconds) == (2.5, None)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("db_pool_size", 0),
        ("db_max_overflow", -1),
        ("db_pool_timeout_seconds", 0),
        ("db_pool_recycle_seconds", 0),
    ],
)
def test_values_out_of_range_are_refused(tmp_path: Path, setting: str, value: int) -> None:
    with pytest.raises(pydantic.ValidationError, match=setting):
        settings_for("sqlite://", tmp_path, **{setting: value})


def test_a_pool_of_one_connection_is_refused(tmp_path: Path) -> None:
    """A request may load a cache on a second connection while it holds its own: alone,
    it would wait for itself."""
    with pytest.raises(pydantic.ValidationError, match="BILLING_DB_MAX_OVERFLOW=1"):
        settings_for("sqlite://", tmp_path, db_pool_size=1, db_max_overflow=0)
    assert settings_for("sqlite://", tmp_path, db_pool_size=1, db_max_overflow=1)
