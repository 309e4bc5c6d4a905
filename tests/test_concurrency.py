"""Invariants under real concurrency: two server processes sharing one database."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import ADDRESS, BASE, SECRET, Api, Caller
from tests.support.servers import run_servers

pytestmark = pytest.mark.slow


class Cluster:
    """Clients spread across the server processes, as behind a load balancer."""

    def __init__(self, clients: list[httpx.AsyncClient]) -> None:
        self.clients = clients
        self.users = Api(clients[0])

    async def call(
        self, n: int, method: str, path: str, caller: Caller, **kwargs: object
    ) -> httpx.Response:
        client = self.clients[n % len(self.clients)]
        return await client.request(method, BASE + path, headers=caller.headers, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def cluster(database_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    env = {
        "BILLING_DATABASE_URL": database_url,
        "BILLING_JWT_SECRET": SECRET,
        "BILLING_DATA_DIR": str(tmp_path),
        "BILLING_MIGRATE_ON_START": "false",
    }
    limits = httpx.Limits(max_connections=200)
    with run_servers(2, env) as urls:
        clients = [httpx.AsyncClient(base_url=url, timeout=60, limits=limits) for url in urls]
        try:
            yield Cluster(clients)
        finally:
            for client in clients:
                await client.aclose()


async def new_customer(cluster: Cluster, tier: str) -> tuple[str, Caller]:
    owner = cluster.users.user()
    created = await cluster.call(
        0,
        "POST",
        "/customer",
        owner,
        json={"name": "Concurrent", "email": "c@example.com", "billingAddress": ADDRESS},
    )
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]
    moved = await cluster.call(
        1,
        "PUT",
        f"/admin/customer/{customer_id}/tier",
        cluster.users.admin(),
        json={"tierName": tier},
    )
    assert moved.status_code == 200, moved.text
    return customer_id, owner


async def test_member_limit_holds_under_200_concurrent_additions(cluster: Cluster) -> None:
    _, owner = await new_customer(cluster, "pro_plus")  # 5 members, the owner included
    responses = await asyncio.gather(
        *(
            cluster.call(
                n,
                "POST",
                "/customer/member",
                owner,
                json={"userID": str(uuid.uuid4()), "role": "user"},
            )
            for n in range(200)
        )
    )
    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: 4, 402: 196}, statuses
    members = await cluster.call(0, "GET", "/customer/members", owner)
    assert members.json()["pagination"]["totalCount"] == 5


async def test_exactly_one_owner_after_50_concurrent_transfers(cluster: Cluster) -> None:
    customer_id, owner = await new_customer(cluster, "enterprise")
    team = [owner]
    for n in range(50):
        member = cluster.users.user()
        added = await cluster.call(
            n, "POST", "/customer/member", owner, json={"userID": member.user_id, "role": "admin"}
        )
        assert added.status_code == 201
        team.append(member)
    rng = random.Random(7)

    async def transfer(n: int) -> int:
        caller = team[0] if n < 25 else rng.choice(team)
        target = rng.choice([member for member in team if member is not caller])
        response = await cluster.call(
            n,
            "POST",
            "/customer/transfer-ownership",
            caller,
            json={"newOwnerUserID": target.user_id},
        )
        return response.status_code

    statuses = Counter(await asyncio.gather(*(transfer(n) for n in range(50))))
    assert set(statuses) <= {200, 403}, statuses
    assert statuses[200] >= 1
    details = await cluster.call(0, "GET", f"/admin/customer/{customer_id}", cluster.users.admin())
    members = await cluster.call(1, "GET", "/customer/members", owner, params={"pageSize": 100})
    roles = Counter(member["role"] for member in members.json()["members"])
    assert roles == {"owner": 1, "admin": 50}
    owner_id = details.json()["ownerUserID"]
    assert [m["userID"] for m in members.json()["members"] if m["role"] == "owner"] == [owner_id]
