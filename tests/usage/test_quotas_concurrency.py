"""A quota under real concurrency: two server processes sharing one database."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path

import pytest

from tests.support.api import Caller
from tests.support.cluster import Cluster, running_cluster

pytestmark = pytest.mark.slow
QUOTA = "/quotas/compute-api/max_instances"


@pytest.fixture
async def cluster(database_url: str, redis_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(database_url, tmp_path, redis_url) as cluster:
        yield cluster


async def customer_with_quota(cluster: Cluster, value: int) -> tuple[str, Caller]:
    customer_id, owner = await cluster.new_customer("enterprise")
    admin = cluster.users.admin()
    override = await cluster.call(
        0,
        "PUT",
        f"/admin/customer/{customer_id}/limits/compute-api/max_instances",
        admin,
        json={"value": value},
    )
    assert override.status_code == 200, override.text
    for n in range(len(cluster.clients)):  # each process sees the override (1 s at most)
        await eventually(partial(quota_value, cluster, n, owner), value)
    return customer_id, owner


async def quota_value(cluster: Cluster, n: int, owner: Caller) -> object:
    response = await cluster.call(n, "GET", QUOTA, owner)
    return response.json()["value"]


async def eventually(
    read: Callable[[], Awaitable[object]], expected: object, seconds: float = 5.0
) -> None:
    deadline = time.monotonic() + seconds
    while True:
        value = await read()
        if value == expected or time.monotonic() > deadline:
            assert value == expected
            return
        await asyncio.sleep(0.05)


async def test_a_quota_of_10_holds_under_200_concurrent_allocations(cluster: Cluster) -> None:
    customer_id, owner = await customer_with_quota(cluster, 10)
    service = cluster.users.service()
    responses = await asyncio.gather(
        *(
            cluster.call(n, "POST", f"{QUOTA}/allocate", service, json={"customerId": customer_id})
            for n in range(200)
        )
    )
    statuses = Counter(response.status_code for response in responses)
    assert statuses == {200: 10, 403: 190}, statuses
    codes = {r.json()["error"]["code"] for r in responses if r.status_code == 403}
    assert codes == {"QUOTA_EXCEEDED"}
    assert sorted(r.json()["currentUsage"] for r in responses if r.status_code == 200) == list(
        range(1, 11)
    )
    report = await cluster.call(1, "GET", "/quotas/usage", owner)
    assert report.json()["services"]["compute-api"]["features"][0]["currentUsage"] == 10

    async def recorded() -> object:
        response = await cluster.call(0, "GET", "/quotas/usage/users", owner)
        return response.json()["total"]

    await eventually(recorded, 200)  # refusals reach the ledger in its next batch
