"""Usage alerts reach the customer's webhook endpoints: a customer sets thresholds and
registers an endpoint on loopback, consumes cross 80 % and 100 %, and the receiver gets
exactly one signed delivery per crossing, retried until it takes it; in one process, and
in two sharing Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.alerts import MONTH, consume_to, limited, scope, set_thresholds
from tests.support.api import Api, Caller
from tests.support.clock import MovableClock
from tests.support.cluster import Cluster, running_cluster
from tests.support.webhook_receiver import Received, Receiver
from tests.webhooks.conftest import create_endpoint, run_worker

USAGE_EVENT = "usage.threshold_reached"
SERVICE, FEATURE = MONTH.split("/")


def by_event(received: list[Received], secret: str) -> dict[str, list[dict[str, Any]]]:
    """The verified payloads the receiver got, by `webhook-id`."""
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for request in received:
        events[request.webhook_id].append(request.verified(secret))
    return events


def crossed(events: dict[str, list[dict[str, Any]]]) -> list[tuple[str, int, int]]:
    """(type, percent, usage) of each event, once however often it was sent."""
    return sorted(
        (copies[0]["type"], copies[0]["data"]["percent"], copies[0]["data"]["usage"])
        for copies in events.values()
    )


def tries(events: dict[str, list[dict[str, Any]]]) -> list[int]:
    return sorted(len(copies) for copies in events.values())


async def test_each_crossing_is_one_signed_delivery_retried_until_taken(
    hooks: Api, receiver: Receiver, clock: MovableClock
) -> None:
    meter, owner = await limited(hooks, MONTH)  # a limit of 10
    await set_thresholds(hooks, owner, scope(None, 80, 100))
    endpoint = await create_endpoint(hooks, owner, url=receiver.url(), eventTypes=[USAGE_EVENT])
    receiver.fail_next(3)

    await consume_to(meter, MONTH, 12)  # 8 and 10 cross; the last two are refused
    await hooks.container.alert_writer.flush()
    await run_worker(hooks)  # the first attempt of each: two failures
    for wait in ({"seconds": 6}, {"minutes": 6}):
        clock.advance(**wait)
        await run_worker(hooks)
    received = receiver.wait_for(5)

    events = by_event(received, endpoint["secret"])
    assert crossed(events) == [(USAGE_EVENT, 80, 8), (USAGE_EVENT, 100, 10)]
    assert tries(events) == [2, 3]  # three failures between them, then each taken
    for copies in events.values():  # the same event on every try
        assert all(copy == copies[0] for copy in copies)
        assert copies[0]["data"]["customerId"] == meter.customer_id
        assert (copies[0]["data"]["serviceName"], copies[0]["data"]["featureKey"]) == (
            SERVICE,
            FEATURE,
        )
    log = await delivery_log(hooks, owner, endpoint["id"])
    assert Counter(attempt["status"] for attempt in log) == {"failed": 3, "succeeded": 2}
    assert len({attempt["deliveryId"] for attempt in log}) == 2

    clock.advance(hours=1)
    await run_worker(hooks)
    assert len(receiver.requests) == 5  # taken: never sent again


async def delivery_log(api: Api, owner: Caller, endpoint_id: str) -> list[dict[str, Any]]:
    response = await api.call("GET", f"/customer/webhooks/{endpoint_id}/deliveries", owner)
    assert response.status_code == 200, response.text
    attempts: list[dict[str, Any]] = response.json()["attempts"]
    return attempts


@pytest.fixture
async def cluster(
    database_url: str, redis_url: str, tmp_path: Path, receiver: Receiver
) -> AsyncIterator[Cluster]:
    extra = {
        "BILLING_WEBHOOK_ALLOWED_HOSTS": receiver.host,
        # Real time here: three retries a second apart, then the day the schedule must span.
        "BILLING_WEBHOOK_RETRY_SECONDS": "1,1,1,86400",
    }
    async with running_cluster(database_url, tmp_path, redis_url, extra) as cluster:
        yield cluster


@pytest.mark.slow
@pytest.mark.backends("postgresql")
async def test_two_processes_on_redis_deliver_each_crossing_once(
    cluster: Cluster, receiver: Receiver
) -> None:
    """Consumes crossing together on both processes; both processes' delivery workers
    running, and the receiver failing three times."""
    customer_id, owner = await cluster.new_customer("pro")
    limit = f"/admin/customer/{customer_id}/limits/{SERVICE}/{FEATURE}"
    changed = await cluster.call(0, "PUT", limit, cluster.users.admin(), json={"value": 10})
    assert changed.status_code == 200, changed.text
    body = {"thresholds": [scope(None, 80, 100)]}
    assert (
        await cluster.call(1, "PUT", "/customer/alerts/thresholds", owner, json=body)
    ).is_success
    hook = {"url": receiver.url(), "eventTypes": [USAGE_EVENT]}
    created = await cluster.call(0, "POST", "/customer/webhooks", owner, json=hook)
    assert created.status_code == 201, created.text
    endpoint = created.json()
    await asyncio.sleep(1.5)  # both processes see the new limit (caches dropped within 1 s)
    receiver.fail_next(3)

    service = cluster.users.service()
    consume = {"serviceName": SERVICE, "featureKey": FEATURE, "customerId": customer_id}
    replies = await asyncio.gather(
        *(cluster.call(n, "POST", "/limits/consume", service, json=consume) for n in range(30))
    )
    assert Counter(reply.status_code for reply in replies) == {200: 10, 429: 20}

    received = await asyncio.to_thread(receiver.wait_for, 5, 20.0)
    await asyncio.sleep(2.5)  # past a poll of each worker: nothing more arrives
    events = by_event(receiver.requests, endpoint["secret"])
    assert crossed(events) == [(USAGE_EVENT, 80, 8), (USAGE_EVENT, 100, 10)]
    assert sum(tries(events)) == len(received) == len(receiver.requests) == 5
    for copies in events.values():  # the same event on every try
        assert all(copy == copies[0] for copy in copies)
    log = (
        await cluster.call(0, "GET", f"/customer/webhooks/{endpoint['id']}/deliveries", owner)
    ).json()["attempts"]
    assert Counter(attempt["status"] for attempt in log) == {"failed": 3, "succeeded": 2}
