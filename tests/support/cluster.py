"""Two real server processes sharing one database, with clients spread across them as
behind a load balancer: the setting of every multi-process invariant test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from tests.support.api import ADDRESS, BASE, SECRET, Api, Caller
from tests.support.servers import run_servers


class Cluster:
    def __init__(self, clients: list[httpx.AsyncClient]) -> None:
        self.clients = clients
        self.users = Api(clients[0])

    async def call(
        self, n: int, method: str, path: str, caller: Caller, **kwargs: object
    ) -> httpx.Response:
        """Request number `n` goes to process `n` modulo their number."""
        client = self.clients[n % len(self.clients)]
        return await client.request(method, BASE + path, headers=caller.headers, **kwargs)  # type: ignore[arg-type]

    async def new_customer(self, tier: str) -> tuple[str, Caller]:
        """A customer created through one process and moved to `tier` through the other."""
        owner = self.users.user()
        created = await self.call(
            0,
            "POST",
            "/customer",
            owner,
            json={"name": "Concurrent", "email": "c@example.com", "billingAddress": ADDRESS},
        )
        assert created.status_code == 201, created.text
        customer_id: str = created.json()["id"]
        moved = await self.call(
            1,
            "PUT",
            f"/admin/customer/{customer_id}/tier",
            self.users.admin(),
            json={"tierName": tier},
        )
        assert moved.status_code == 200, moved.text
        return customer_id, owner


@asynccontextmanager
async def running_cluster(
    database_url: str, data_dir: Path, redis_url: str, extra_env: dict[str, str] | None = None
) -> AsyncIterator[Cluster]:
    """Two processes on one database share their counters through Redis: on process-local
    counters the second would refuse to start."""
    env = {
        "BILLING_DATABASE_URL": database_url,
        "BILLING_RATE_LIMIT_STORAGE": redis_url,
        "BILLING_JWT_SECRET": SECRET,
        "BILLING_DATA_DIR": str(data_dir),
        "BILLING_MIGRATE_ON_START": "false",
        **(extra_env or {}),
    }
    limits = httpx.Limits(max_connections=200)
    with run_servers(2, env) as urls:
        clients = [httpx.AsyncClient(base_url=url, timeout=60, limits=limits) for url in urls]
        try:
            yield Cluster(clients)
        finally:
            for client in clients:
                await client.aclose()
