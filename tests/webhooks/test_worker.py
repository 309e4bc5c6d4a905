"""The delivery worker's life: a graceful stop, a claim abandoned and taken over after its
lease, and the log kept for its retention."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.webhooks.addresses import AddressGuard, AllowedHost
from app.webhooks.sender import Sender
from app.webhooks.worker import LEASE, WebhookWorker
from tests.support.api import Api
from tests.support.clock import MovableClock
from tests.support.webhook_receiver import Answer, Receiver
from tests.webhooks.conftest import create_endpoint, run_worker

pytestmark = pytest.mark.backends("sqlite")


def _worker(api: Api, clock: MovableClock, receiver: Receiver, grace: float) -> WebhookWorker:
    """A worker of its own beside the app's (stopped), as a second process would run."""
    sender = Sender(AddressGuard([AllowedHost.parse(receiver.host)]), timeout_seconds=5)
    return WebhookWorker(api.container.db, clock, sender, stop_grace_seconds=grace)


async def _log(api: Api, caller: Any, endpoint_id: str) -> list[dict[str, Any]]:
    response = await api.call("GET", f"/customer/webhooks/{endpoint_id}/deliveries", caller)
    attempts: list[dict[str, Any]] = response.json()["attempts"]
    return attempts


async def test_a_stop_lets_the_attempt_in_flight_finish(
    hooks: Api, receiver: Receiver, clock: MovableClock
) -> None:
    await hooks.container.webhook_worker.stop()
    team = await hooks.team()
    endpoint = await create_endpoint(hooks, team.owner, url=receiver.url())
    receiver.answer(Answer(204, delay_seconds=0.5))
    worker = _worker(hooks, clock, receiver, grace=5)
    await worker.start()

    await hooks.add(team.owner, hooks.user())
    await asyncio.to_thread(receiver.wait_for, 1)
    await worker.stop()

    [attempt] = await _log(hooks, team.owner, endpoint["id"])
    assert attempt["status"] == "succeeded"


async def test_an_abandoned_attempt_is_taken_over_once_its_lease_expires(
    hooks: Api, receiver: Receiver, clock: MovableClock
) -> None:
    await hooks.container.webhook_worker.stop()
    team = await hooks.team()
    endpoint = await create_endpoint(hooks, team.owner, url=receiver.url())
    receiver.answer(Answer(204, delay_seconds=2))
    stopping = _worker(hooks, clock, receiver, grace=0.1)
    await stopping.start()
    await hooks.add(team.owner, hooks.user())
    [first] = await asyncio.to_thread(receiver.wait_for, 1)
    await stopping.stop()  # gives up on the slow answer
    assert await _log(hooks, team.owner, endpoint["id"]) == []

    other = _worker(hooks, clock, receiver, grace=5)
    assert await other.run_once() == 0  # still claimed
    clock.advance(seconds=LEASE.total_seconds() + 1)
    assert await other.run_once() == 1
    second = receiver.requests[-1]
    assert second.webhook_id == first.webhook_id
    [attempt] = await _log(hooks, team.owner, endpoint["id"])
    assert attempt["status"] == "succeeded"
    await other.stop()


async def test_the_log_is_kept_for_its_retention(
    hooks: Api, receiver: Receiver, clock: MovableClock
) -> None:
    team = await hooks.team()
    endpoint = await create_endpoint(hooks, team.owner, url=receiver.url())
    await hooks.add(team.owner, hooks.user())
    await run_worker(hooks)
    receiver.fail_next(1)
    clock.advance(days=29)
    await hooks.add(team.owner, hooks.user())
    await run_worker(hooks)  # fails: retried in 5 s
    clock.advance(days=2)
    await run_worker(hooks)  # the retry succeeds; the first event is past its 30 days

    log = await _log(hooks, team.owner, endpoint["id"])
    assert [a["status"] for a in log] == ["succeeded", "failed"]
    assert len({a["eventId"] for a in log}) == 1
