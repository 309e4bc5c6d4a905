"""A change made through one process reaches the in-process caches of another."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import BASE, SECRET, Api, Caller
from tests.support.servers import run_servers

pytestmark = pytest.mark.slow
FEATURE = {"serviceName": "ai-api", "featureKey": "chat_completions_per_minute"}


@pytest.fixture
async def two_servers(
    database_url: str, redis_url: str, tmp_path: Path
) -> AsyncIterator[list[Api]]:
    env = {
        "BILLING_DATABASE_URL": database_url,
        "BILLING_RATE_LIMIT_STORAGE": redis_url,
        "BILLING_JWT_SECRET": SECRET,
        "BILLING_DATA_DIR": str(tmp_path),
        "BILLING_MIGRATE_ON_START": "false",
        "BILLING_SELF_LIMIT_USER": "100000/minute",
        "BILLING_SELF_LIMIT_ANONYMOUS": "100000/minute",
    }
    with run_servers(2, env) as urls:
        clients = [httpx.AsyncClient(base_url=url, timeout=30) for url in urls]
        try:
            yield [Api(client) for client in clients]
        finally:
            for client in clients:
                await client.aclose()


async def limit_seen(api: Api, service: Caller, expected: int, **subject: str) -> float:
    """Seconds until a check through `api` reports `expected` as the limit."""
    started = time.monotonic()
    while time.monotonic() - started < 5:
        response = await api.client.post(
            f"{BASE}/limits/check", headers=service.headers, json={**FEATURE, **subject}
        )
        if response.json().get("limit") == expected:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"the limit never became {expected}: {response.json()}")


async def test_tier_and_membership_changes_reach_the_other_process(
    two_servers: list[Api],
) -> None:
    writer, reader = two_servers
    service = writer.service()
    owner = writer.user()
    created = await writer.call(
        "POST",
        "/customer",
        owner,
        json={"name": "Acme", "email": "a@example.com", "billingAddress": {"country": "US"}},
    )
    customer_id = created.json()["id"]
    assert await limit_seen(reader, service, 5, customerId=customer_id) < 1  # free
    newcomer = writer.user()
    assert await limit_seen(reader, service, 5, userId=newcomer.user_id) < 1  # no team: free

    await writer.set_tier(customer_id, "pro")
    assert await limit_seen(reader, service, 30, customerId=customer_id) < 2
    await writer.add(owner, newcomer)
    assert await limit_seen(reader, service, 30, userId=newcomer.user_id) < 2
    removed = await writer.call("DELETE", f"/customer/member/{newcomer.user_id}", owner)
    assert removed.status_code == 204
    assert await limit_seen(reader, service, 5, userId=newcomer.user_id) < 2
