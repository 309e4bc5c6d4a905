"""Two server processes on one PostgreSQL, both running the delivery worker: each event is
delivered exactly once (their claims skip each other's rows)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from tests.support.cluster import running_cluster
from tests.support.webhook_receiver import Receiver

pytestmark = [pytest.mark.slow, pytest.mark.backends("postgresql")]
EVENTS = 30


async def test_two_processes_deliver_each_event_once(
    database_url: str, redis_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    env = {"BILLING_WEBHOOK_ALLOWED_HOSTS": receiver.host}
    async with running_cluster(database_url, tmp_path, redis_url, env) as cluster:
        customer_id, owner = await cluster.new_customer("enterprise")
        created = await cluster.call(
            0, "POST", "/customer/webhooks", owner, json={"url": receiver.url()}
        )
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        # Half the members are added through each process, all at once: both workers
        # wake on their own commits and poll for the other's.
        users = [cluster.users.user() for _ in range(EVENTS)]
        added = await asyncio.gather(
            *(
                cluster.call(n, "POST", "/customer/member", owner, json={"userID": user.user_id})
                for n, user in enumerate(users)
            )
        )
        assert [response.status_code for response in added] == [201] * EVENTS
        received = await asyncio.to_thread(receiver.wait_for, EVENTS, 30.0)
        await asyncio.sleep(
            3
        )  # past a poll of each worker: a second delivery would have come by now

    ids = Counter(request.webhook_id for request in receiver.requests)
    assert len(ids) == EVENTS
    assert set(ids.values()) == {1}
    members = {request.verified(secret)["data"]["userId"] for request in received}
    assert members == {user.user_id for user in users}
    assert customer_id
