from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.clock import MovableClock
from tests.support.api import Api, running_api, settings_for


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
async def api(database_url: str, tmp_path: Path, clock: MovableClock) -> AsyncIterator[Api]:
    async with running_api(settings_for(database_url, tmp_path), clock) as api:
        yield api
