"""The limits engine is exact under real concurrency (SPEC §5.8: "concurrent consumers never
push a counter past its limit").

Real uvicorn processes behind a client that spreads requests across them as a load
balancer would: two processes sharing one Redis and one database, and the embedded
default's single process with in-process counters. Thousands of simultaneous consumes
against a limit of 100 allow exactly 100, and the ledger records every decision.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import SECRET, Api
from tests.support.load import Reply, send_all
from tests.support.metering import Meter, decision, ledger_events, metered_customer
from tests.support.servers import run_servers

pytestmark = pytest.mark.slow

LIMITED = "ai-api/audio_transcriptions_per_month"  # 100 a month on `pro`
LIMIT = 100
CONSUMES = 2000
CONNECTIONS_PER_SERVER = 100


def server_env(database_url: str, data_dir: Path, storage: str) -> dict[str, str]:
    return {
        "BILLING_DATABASE_URL": database_url,
        "BILLING_DATA_DIR": str(data_dir),
        "BILLING_JWT_SECRET": SECRET,
        "BILLING_MIGRATE_ON_START": "false",
        "BILLING_RATE_LIMIT_STORAGE": storage,
        "BILLING_SELF_LIMIT_USER": "100000000/minute",
        "BILLING_SELF_LIMIT_ANONYMOUS": "100000000/minute",
    }


@asynccontextmanager
async def metered_servers(count: int, env: dict[str, str]) -> AsyncIterator[list[Meter]]:
    """A `pro` customer and one metered-service client per server process, each server
    warmed up with one check. On leaving, the servers stop gracefully, so the ledger
    holds every decision."""
    with run_servers(count, env) as urls:
        clients = [httpx.AsyncClient(base_url=url, timeout=60) for url in urls]
        try:
            apis = [Api(client) for client in clients]
            first = await metered_customer(apis[0], "pro")
            meters = [Meter(api, first.customer_id, first.service) for api in apis]
            for meter in meters:  # each process knows the caller and the customer already
                assert await meter.usage(LIMITED) == 0
            yield meters
            for api in apis:
                api.assert_no_server_errors()
        finally:
            for client in clients:
                await client.aclose()


async def burst(meters: list[Meter], count: int, **fields: Any) -> list[Reply]:
    """`count` consumes at once, spread evenly over the servers."""
    share = count // len(meters)
    answers = await asyncio.gather(
        *(
            send_all(
                str(meter.api.client.base_url),
                [meter.consume_request(LIMITED, **fields)] * share,
                connections=CONNECTIONS_PER_SERVER,
            )
            for meter in meters
        )
    )
    return [reply for replies in answers for reply in replies]


async def allowed_by_a_burst(servers: int, env: dict[str, str], database_url: str) -> None:
    """`CONSUMES` simultaneous consumes allow exactly `LIMIT`, and the ledger has them all."""
    async with metered_servers(servers, env) as meters:
        replies = await burst(meters, CONSUMES)

        assert Counter(r.status_code for r in replies) == {200: LIMIT, 429: CONSUMES - LIMIT}
        allowed = sorted(r.json()["currentUsage"] for r in replies if r.status_code == 200)
        assert allowed == list(range(1, LIMIT + 1))
        refused = {decision(r)["currentUsage"] for r in replies if r.status_code == 429}
        assert refused == {LIMIT}
        for meter in meters:
            assert await meter.usage(LIMITED) == LIMIT
    events = await ledger_events(database_url, meters[0].customer_id)
    assert Counter(e["allowed"] for e in events) == {True: LIMIT, False: CONSUMES - LIMIT}


async def test_two_processes_sharing_redis_allow_exactly_the_limit(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    await allowed_by_a_burst(2, server_env(database_url, tmp_path, redis_url), database_url)


async def test_one_process_with_memory_counters_allows_exactly_the_limit(
    sqlite_database_url: str, tmp_path: Path
) -> None:
    env = server_env(sqlite_database_url, tmp_path, "memory://")
    await allowed_by_a_burst(1, env, sqlite_database_url)


async def test_concurrent_repeats_across_processes_count_once(
    sqlite_database_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = server_env(sqlite_database_url, tmp_path, redis_url)
    async with metered_servers(2, env) as meters:
        replies = await burst(meters, 200, amount=3, idempotencyKey="invoice-42")

        assert {r.status_code for r in replies} == {200}
        first = replies[0].json()
        assert (first["currentUsage"], first["remaining"]) == (3, LIMIT - 3)
        assert all(r.json() == first for r in replies)
        for meter in meters:
            assert await meter.usage(LIMITED) == 3
    events = await ledger_events(sqlite_database_url, meters[0].customer_id)
    assert [(e["amount"], e["allowed"]) for e in events] == [(3, True)]
