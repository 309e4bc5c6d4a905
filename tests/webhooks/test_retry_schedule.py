"""An operator's own retry schedule (`BILLING_WEBHOOK_RETRY_SECONDS`): followed wait by wait,
and refused at start when it would give up on a receiver within a day."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pydantic
import pytest

from tests.support.api import Api, settings_for
from tests.support.clock import MovableClock
from tests.support.webhook_receiver import Receiver
from tests.webhooks.conftest import create_endpoint, run_worker, running_hooks


@pytest.fixture
async def hourly(
    database_url: str, tmp_path: Path, clock: MovableClock, receiver: Receiver
) -> AsyncIterator[Api]:
    """Retried after one hour, then after one day, then given up."""
    schedule = "3600,86400"
    async with running_hooks(
        database_url, tmp_path, clock, receiver, webhook_retry_seconds=schedule
    ) as api:
        yield api


async def test_each_retry_waits_as_configured_then_the_delivery_fails(
    hourly: Api, receiver: Receiver, clock: MovableClock
) -> None:
    team = await hourly.team()
    endpoint = await create_endpoint(hourly, team.owner, url=receiver.url())
    receiver.fail_next(100)
    await hourly.add(team.owner, hourly.user())
    await run_worker(hourly)
    assert len(receiver.wait_for(1)) == 1

    # Each wait is up to 10 % longer at random: nothing before it, one try past it.
    for wait, tries in ((3600, 2), (86400, 3)):
        clock.advance(seconds=wait - 1)
        await run_worker(hourly)
        assert len(receiver.requests) == tries - 1
        clock.advance(seconds=wait * 0.1 + 1)
        await run_worker(hourly)
        assert len(receiver.wait_for(tries)) == tries

    clock.advance(days=2)
    await run_worker(hourly)
    assert len(receiver.requests) == 3  # the schedule is over
    response = await hourly.call(
        "GET", f"/customer/webhooks/{endpoint['id']}/deliveries", team.owner
    )
    assert [attempt["status"] for attempt in response.json()["attempts"]] == ["failed"] * 3


@pytest.mark.parametrize(
    ("schedule", "reason"),
    [
        ("5,300,1800", "must span 24 h"),  # would give up on a receiver after 35 minutes
        ("60,30,86400", "at least as long as the one before"),
        ("0,86400", "over 0"),
        ("", "1 to 20 waits"),
        (",".join(["86400"] * 21), "1 to 20 waits"),
    ],
)
def test_a_schedule_that_breaks_the_guarantee_is_refused(
    tmp_path: Path, schedule: str, reason: str
) -> None:
    with pytest.raises(pydantic.ValidationError, match="BILLING_WEBHOOK_RETRY_SECONDS") as refused:
        settings_for("sqlite://", tmp_path, webhook_retry_seconds=schedule)
    assert reason in str(refused.value)
