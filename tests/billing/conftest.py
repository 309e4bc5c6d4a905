"""The service with Stripe configured, against the fake Stripe on loopback
(`tests.support.fake_stripe`), reached through the real SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.api import Api, running_api
from tests.support.clock import MovableClock
from tests.support.fake_stripe import FakeStripe
from tests.support.stripe import API_KEY, stripe_settings


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe.running(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture
async def stripe_api(
    database_url: str, tmp_path: Path, fake_stripe: FakeStripe, clock: MovableClock
) -> AsyncIterator[Api]:
    async with running_api(stripe_settings(database_url, tmp_path, fake_stripe), clock) as api:
        yield api
