"""Alerts from two server processes sharing one Redis and one PostgreSQL, their clients
spread across both as behind a load balancer: the decisions that cross together still
raise one alert per threshold."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.support.alerts import EMBEDDINGS, MONTH, crossings, scope
from tests.support.api import Caller
from tests.support.cluster import Cluster, running_cluster
from tests.usage.test_durability import eventually

pytestmark = [pytest.mark.slow, pytest.mark.backends("postgresql")]
LIMIT = 40
PERCENTS = (25, 50, 75, 100)


@pytest.fixture
async def cluster(database_url: str, redis_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(database_url, tmp_path, redis_url) as cluster:
        yield cluster


async def watched_customer(cluster: Cluster) -> tuple[str, Caller]:
    """A customer whose two features allow 40, watched at 25, 50, 75 and 100 %."""
    customer_id, owner = await cluster.new_customer("pro")
    admin = cluster.users.admin()
    for n, feature in enumerate((MONTH, EMBEDDINGS)):
        service, key = feature.split("/")
        path = f"/admin/customer/{customer_id}/limits/{service}/{key}"
        changed = await cluster.call(n, "PUT", path, admin, json={"value": LIMIT})
        assert changed.status_code == 200, changed.text
    body = {"thresholds": [scope(feature, *PERCENTS) for feature in (MONTH, EMBEDDINGS)]}
    changed = await cluster.call(1, "PUT", "/customer/alerts/thresholds", owner, json=body)
    assert changed.status_code == 200, changed.text
    for n in range(len(cluster.clients)):  # each process sees the overrides (1 s at most)
        for feature in (MONTH, EMBEDDINGS):
            read = partial(limit_of, cluster, n, owner, feature)
            assert await eventually(read, LIMIT, within=5.0) == LIMIT
    return customer_id, owner


async def limit_of(cluster: Cluster, n: int, owner: Caller, feature: str) -> Any:
    return (await cluster.call(n, "GET", f"/limits/{feature}", owner)).json()["value"]


async def alerts_of(cluster: Cluster, owner: Caller) -> list[dict[str, Any]]:
    response = await cluster.call(0, "GET", "/customer/alerts", owner, params={"pageSize": 100})
    assert response.status_code == 200, response.text
    alerts: list[dict[str, Any]] = response.json()["alerts"]
    return alerts


async def test_two_processes_crossing_together_alert_once_per_threshold(cluster: Cluster) -> None:
    customer_id, owner = await watched_customer(cluster)
    service = cluster.users.service()

    def body(feature: str) -> dict[str, Any]:
        service_name, key = feature.split("/")
        return {"serviceName": service_name, "featureKey": key, "customerId": customer_id}

    singles = [
        cluster.call(n, "POST", "/limits/consume", service, json=body(MONTH)) for n in range(120)
    ]
    batches = [
        cluster.call(
            n, "POST", "/limits/consume/batch", service, json={"requests": [body(EMBEDDINGS)] * 5}
        )
        for n in range(24)
    ]
    replies = await asyncio.gather(*singles, *batches)

    assert Counter(r.status_code for r in replies[:120]) == {200: LIMIT, 429: 120 - LIMIT}
    allowed = [d for r in replies[120:] for d in r.json()["decisions"] if "error" not in d]
    assert len(allowed) == LIMIT

    expected = sorted(
        (feature, percent, LIMIT * percent // 100)
        for feature in (MONTH, EMBEDDINGS)
        for percent in PERCENTS
    )
    read = partial(_sorted_crossings, cluster, owner)
    assert await eventually(read, expected, within=5.0) == expected
    await asyncio.sleep(0.5)  # both writers have run again since
    alerts = await alerts_of(cluster, owner)
    assert sorted(crossings(alerts)) == expected
    assert len({alert["windowStart"] for alert in alerts}) == 1


async def _sorted_crossings(cluster: Cluster, owner: Caller) -> list[tuple[str, int, int]]:
    return sorted(crossings(await alerts_of(cluster, owner)))
