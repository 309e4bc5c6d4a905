"""Live usage across processes: two uvicorn processes on one Redis and one database, a
subscriber on one, consumes through REST on the other (`app.usage.fanout`)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.graphql.test_subscriptions import FEATURE, USAGE, usage_of
from tests.support.api import SECRET, Api, Caller
from tests.support.cluster import Cluster, running_cluster
from tests.support.servers import run_server_processes
from tests.support.websocket import GraphQLWS, real_websocket

pytestmark = pytest.mark.slow


@pytest.fixture
async def cluster(
    sqlite_database_url: str, redis_url: str, tmp_path: Path
) -> AsyncIterator[Cluster]:
    async with running_cluster(sqlite_database_url, tmp_path, redis_url) as cluster:
        yield cluster


def consume_body(customer_id: str, amount: int = 1) -> dict[str, Any]:
    service_name, feature_key = FEATURE.split("/")
    return {
        "serviceName": service_name,
        "featureKey": feature_key,
        "customerId": customer_id,
        "amount": amount,
    }


async def test_a_consume_on_one_process_reaches_a_subscriber_on_the_other_within_a_second(
    cluster: Cluster,
) -> None:
    customer_id, owner = await cluster.new_customer("enterprise")
    service = cluster.users.service()
    async with real_websocket(str(cluster.clients[0].base_url.join("/graphql"))) as socket:
        live = GraphQLWS(socket)
        assert (await live.init(owner.headers))["type"] == "connection_ack"
        await live.subscribe("1", USAGE)
        assert usage_of(await live.next_of("1")) == 0  # the current usage first
        delays = []
        expected = 0
        for amount in (1, 2, 3):
            expected += amount
            started = time.monotonic()
            consumed = await cluster.call(
                1, "POST", "/limits/consume", service, json=consume_body(customer_id, amount)
            )
            assert consumed.status_code == 200, consumed.text
            assert consumed.json()["currentUsage"] == expected
            assert usage_of(await live.next_of("1", within=1.0)) == expected
            delays.append(time.monotonic() - started)
        assert max(delays) < 1.0, delays


async def test_a_batch_on_either_process_reaches_subscribers_on_both(cluster: Cluster) -> None:
    customer_id, owner = await cluster.new_customer("enterprise")
    service = cluster.users.service()
    urls = [str(client.base_url.join("/graphql")) for client in cluster.clients]
    async with real_websocket(urls[0]) as first, real_websocket(urls[1]) as second:
        sessions = [GraphQLWS(first), GraphQLWS(second)]
        for live in sessions:
            assert (await live.init(owner.headers))["type"] == "connection_ack"
            await live.subscribe("1", USAGE)
            assert usage_of(await live.next_of("1")) == 0
        batch = {"requests": [consume_body(customer_id, 2), consume_body(customer_id, 5)]}
        response = await cluster.call(0, "POST", "/limits/consume/batch", service, json=batch)
        assert response.status_code == 200, response.text
        for live in sessions:
            assert usage_of(await live.next_of("1", within=1.0)) == 7


async def test_a_stopping_server_ends_its_subscriptions_and_exits_cleanly(
    sqlite_database_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = {
        "BILLING_DATABASE_URL": sqlite_database_url,
        "BILLING_RATE_LIMIT_STORAGE": redis_url,
        "BILLING_JWT_SECRET": SECRET,
        "BILLING_DATA_DIR": str(tmp_path),
        "BILLING_MIGRATE_ON_START": "false",
    }
    with run_server_processes(1, env, billing=[]) as (server,):
        import httpx

        async with httpx.AsyncClient(base_url=server.url) as client:
            api = Api(client)
            team = await api.team()
            owner: Caller = team.owner
        async with real_websocket(f"{server.url}/graphql") as socket:
            live = GraphQLWS(socket)
            assert (await live.init(owner.headers))["type"] == "connection_ack"
            await live.subscribe("1", USAGE)
            await live.next_of("1")
            server.send_signal(signal.SIGTERM)
            closed = await socket.wait_closed(within=10)
            assert closed.code == 1012, closed  # Service Restart: clients reconnect elsewhere
        assert await asyncio.to_thread(server.wait, 15) == 0, server.error_output()
