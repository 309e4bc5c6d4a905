"""Invariants under real concurrency: two server processes sharing one database."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.api import ADDRESS
from tests.support.cluster import Cluster, running_cluster

pytestmark = pytest.mark.slow


@pytest.fixture
async def cluster(database_url: str, redis_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(database_url, tmp_path, redis_url) as cluster:
        yield cluster


async def test_member_limit_holds_under_200_concurrent_additions(cluster: Cluster) -> None:
    _, owner = await cluster.new_customer("pro_plus")  # 5 members, the owner included
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
    customer_id, owner = await cluster.new_customer("enterprise")
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


async def test_one_default_tier_after_36_concurrent_changes(cluster: Cluster) -> None:
    """Every change answers 200 (the last to commit wins): no deadlock, no 409."""
    admin = cluster.users.admin()
    tiers = (await cluster.call(0, "GET", "/admin/tiers", admin)).json()["tiers"]
    assignable = [tier["id"] for tier in tiers if tier["name"] != "public"]
    assert len(assignable) == 9
    responses = await asyncio.gather(
        *(
            cluster.call(n, "PUT", f"/admin/tiers/{assignable[n % 9]}/default", admin)
            for n in range(36)
        )
    )
    statuses = Counter(response.status_code for response in responses)
    assert statuses == {200: 36}, [r.text for r in responses if r.status_code != 200]
    for n in range(2):  # both processes agree
        after = (await cluster.call(n, "GET", "/admin/tiers", admin)).json()["tiers"]
        assert sum(tier["isDefault"] for tier in after) == 1


async def test_one_customer_per_user_under_concurrent_creates_and_additions(
    cluster: Cluster,
) -> None:
    """A user belongs to at most one customer, however many requests race to make it two."""
    founder = cluster.users.user()
    body = {"name": "Race", "email": "race@example.com", "billingAddress": ADDRESS}
    creates = await asyncio.gather(
        *(cluster.call(n, "POST", "/customer", founder, json=body) for n in range(20))
    )
    assert Counter(r.status_code for r in creates) == {201: 1, 400: 19}
    assert {r.json()["error"]["code"] for r in creates if r.status_code == 400} == {
        "ALREADY_IN_CUSTOMER"
    }

    owners = [(await cluster.new_customer("enterprise"))[1] for _ in range(10)]
    wanted = cluster.users.user()
    additions = await asyncio.gather(
        *(
            cluster.call(n, "POST", "/customer/member", owner, json={"userID": wanted.user_id})
            for n, owner in enumerate(owners)
        )
    )
    assert Counter(r.status_code for r in additions) == {201: 1, 400: 9}
    joined = await cluster.call(0, "GET", "/customer", wanted)
    winner = next(owner for owner, r in zip(owners, additions, strict=True) if r.status_code == 201)
    assert joined.json()["id"] == (await cluster.call(1, "GET", "/customer", winner)).json()["id"]
