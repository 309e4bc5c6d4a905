"""The app with a webhook receiver on loopback that it is allowed to reach."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import Api, Caller, running_api, settings_for
from tests.support.clock import MovableClock
from tests.support.webhook_receiver import Receiver

# Allowed by the operator in these tests, and never resolved: CRUD tests need no DNS.
HOOKS_HOST = "hooks.example"
HOOKS_URL = f"https://{HOOKS_HOST}/billing"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver.running() as receiver:
        yield receiver


@asynccontextmanager
async def running_hooks(
    database_url: str, tmp_path: Path, clock: MovableClock, receiver: Receiver, **overrides: Any
) -> AsyncIterator[Api]:
    """The app allowed to reach `receiver` and `HOOKS_HOST`, with `overrides` of its settings."""
    settings = settings_for(
        database_url,
        tmp_path,
        webhook_allowed_hosts=[receiver.host, HOOKS_HOST],
        webhook_max_endpoints=3,
        webhook_timeout_seconds=2.0,
        **overrides,
    )
    async with running_api(settings, clock) as api:
        yield api


@pytest.fixture
async def hooks(
    database_url: str, tmp_path: Path, clock: MovableClock, receiver: Receiver
) -> AsyncIterator[Api]:
    async with running_hooks(database_url, tmp_path, clock, receiver) as api:
        yield api


async def create_endpoint(api: Api, caller: Caller, **body: Any) -> dict[str, Any]:
    response = await api.call("POST", "/customer/webhooks", caller, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def run_worker(api: Api) -> int:
    """One pass of the delivery worker, as the background loop would make it."""
    return await api.container.webhook_worker.run_once()
