"""Several API processes on one PostgreSQL and one Redis behind a reverse proxy, as the
README's "Scaling out" runs them (SPEC §2 client address, §3.4 ledger, §3.5 own limit):
limits hold across the hosts, anonymous callers are counted by the address the proxy
saw, and a host stopped with SIGTERM finishes what it is serving, writes its ledger and
exits 0 while the other serves on. And the same stop under `billing serve --workers 2`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx
import pytest

from tests.support.api import BASE, SECRET, Api
from tests.support.load import Reply, SlowRequest, send_all
from tests.support.metering import ledger_events, ledger_total, metered_customer
from tests.support.proxy import ReverseProxy, running_proxy
from tests.support.servers import ROOT, Server, run_server_processes, run_servers
from tests.usage.test_durability import eventually
from tests.usage.test_metering_in_production import MONTH, limited_to, numbered_consume

pytestmark = pytest.mark.slow
PROXY = "127.0.0.1"  # the proxy's address, and the one trusted proxy
CLIENTS = ("127.0.0.2", "127.0.0.3")  # callers of the proxy, on loopback addresses of their own
ANONYMOUS_BUDGET = 5
GRACE_SECONDS = 10


def host_env(database_url: str, redis_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """What every host shares, as the README lists it."""
    return {
        "BILLING_DATABASE_URL": database_url,
        "BILLING_RATE_LIMIT_STORAGE": redis_url,
        "BILLING_JWT_SECRET": SECRET,
        "BILLING_DATA_DIR": str(data_dir),
        "BILLING_TRUSTED_PROXIES": PROXY,
        "BILLING_MIGRATE_ON_START": "false",
        "BILLING_SELF_LIMIT_ANONYMOUS": f"{ANONYMOUS_BUDGET}/hour",
        "BILLING_SELF_LIMIT_USER": "1000000/minute",
        "BILLING_DB_POOL_SIZE": "4",
        "BILLING_DB_MAX_OVERFLOW": "4",
        **extra,
    }


def billing_migrate(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.backends("postgresql")
async def test_two_hosts_behind_a_proxy(
    empty_database_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = host_env(empty_database_url, redis_url, tmp_path)
    migrated = billing_migrate(env)  # once, before any host serves
    assert migrated.returncode == 0, migrated.stderr
    options = ["--graceful-timeout", str(GRACE_SECONDS)]
    with run_server_processes(2, env, billing=options) as hosts:
        async with (
            running_proxy([host.url for host in hosts]) as proxy,
            httpx.AsyncClient(base_url=proxy.url, timeout=30) as client,
        ):
            api = Api(client)
            await limits_hold_across_hosts(api, proxy, empty_database_url)
            await anonymous_callers_are_counted_by_their_own_address(proxy, hosts[0])
            await a_host_stops_gracefully(api, proxy, hosts, empty_database_url)
            api.assert_no_server_errors()


async def limits_hold_across_hosts(api: Api, proxy: ReverseProxy, database_url: str) -> None:
    meter = await limited_to(api, MONTH, 50)
    replies = await send_all(proxy.url, [meter.consume_request(MONTH)] * 100, connections=100)
    assert Counter(r.status_code for r in replies) == {200: 50, 429: 50}
    assert {r.headers["x-upstream"] for r in replies} == set(proxy.upstreams)
    written = await eventually(lambda: ledger_total(database_url, meter.customer_id, MONTH), 50, 3)
    assert written == 50


async def anonymous_callers_are_counted_by_their_own_address(
    proxy: ReverseProxy, host: Server
) -> None:
    await clear_of_an_hour_boundary()
    first, second = CLIENTS
    spent = await anonymous_calls(proxy.url, first, ANONYMOUS_BUDGET + 1)
    assert [r.status_code for r in spent] == [200] * ANONYMOUS_BUDGET + [429]
    assert {r.json()["identifier"] for r in spent[:-1]} == {first}
    assert {r.headers["x-upstream"] for r in spent} == set(proxy.upstreams)
    # What the caller writes itself, left of what the proxy wrote, is never believed.
    (forged,) = await anonymous_calls(proxy.url, first, 1, forwarded_for="198.51.100.7")
    assert forged.status_code == 429
    others = await anonymous_calls(proxy.url, second, ANONYMOUS_BUDGET + 1)
    assert [r.status_code for r in others] == [200] * ANONYMOUS_BUDGET + [429]
    assert {r.json()["identifier"] for r in others[:-1]} == {second}
    # Nothing of that was counted against the proxy's own address.
    direct = (await anonymous_calls(host.url, PROXY, 1))[0]
    assert (direct.status_code, direct.json()["identifier"]) == (200, PROXY)
    assert f'"self";r={ANONYMOUS_BUDGET - 1};' in direct.headers["RateLimit"]


async def anonymous_calls(
    url: str, address: str, count: int, *, forwarded_for: str | None = None
) -> list[httpx.Response]:
    """`count` anonymous calls, one after another, from the loopback address `address`."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=30) as client:
        return [await client.get(BASE + "/limits/usage/ip", headers=headers) for _ in range(count)]


async def a_host_stops_gracefully(
    api: Api, proxy: ReverseProxy, hosts: list[Server], database_url: str
) -> None:
    stopping, staying = hosts
    meter = await metered_customer(api, "enterprise_max")
    request = numbered_consume(meter.customer_id, meter.service)
    replies = dict(
        enumerate(await send_all(proxy.url, [request(n) for n in range(40)], connections=10))
    )

    slow = {n: SlowRequest(proxy.url, request(n)) for n in range(100, 106)}
    for started, under_way in enumerate(slow.values(), 1):
        await under_way.begin()
        await until(partial(in_flight_is, proxy, started))
    assert proxy.in_flight == {stopping.url: 3, staying.url: 3}
    await asyncio.sleep(0.3)  # the hosts have read the heads: the requests are theirs

    stopping.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    await until_refused(stopping.url)
    meanwhile = await send_all(proxy.url, [request(n) for n in range(200, 220)], connections=5)
    assert {(r.status_code, r.headers["x-upstream"]) for r in meanwhile} == {(200, staying.url)}
    finished = {n: await under_way.finish() for n, under_way in slow.items()}
    assert Counter((r.status_code, r.headers["x-upstream"]) for r in finished.values()) == {
        (200, stopping.url): 3,
        (200, staying.url): 3,
    }

    assert await asyncio.to_thread(stopping.wait, GRACE_SECONDS) == 0
    assert time.monotonic() - signalled < GRACE_SECONDS
    assert "Application shutdown complete" in stopping.error_output()
    decided = decided_by(stopping, replies | finished)
    recorded = {e["user_id"].int - 1 for e in await ledger_events(database_url, meter.customer_id)}
    assert decided and decided <= recorded, decided - recorded

    after = await send_all(proxy.url, [request(n) for n in range(300, 320)], connections=5)
    assert {(r.status_code, r.headers["x-upstream"]) for r in after} == {(200, staying.url)}


def decided_by(host: Server, replies: dict[int, Reply]) -> set[int]:
    """The numbers of the consumes `host` allowed."""
    return {
        n
        for n, reply in replies.items()
        if reply.status_code == 200 and reply.headers["x-upstream"] == host.url
    }


def in_flight_is(proxy: ReverseProxy, count: int) -> bool:
    return sum(proxy.in_flight.values()) == count


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.01)


async def until_refused(url: str, within: float = 5.0) -> None:
    """Until nothing accepts connections at `url` any more."""
    address = httpx.URL(url)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection(address.host, address.port)
        except OSError:
            return
        writer.close()
        await asyncio.sleep(0.02)
    raise AssertionError(f"{url} still accepts connections")


async def clear_of_an_hour_boundary(margin: float = 20.0) -> None:
    """The anonymous budget's windows are clock hours: keep the counting within one."""
    left = 3600 - time.time() % 3600
    if left < margin:
        await asyncio.sleep(left + 0.1)


@pytest.mark.backends("postgresql")
def test_hosts_migrating_at_once_beside_billing_migrate(
    empty_database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """As observed: on PostgreSQL a server that migrated on start waited forever for the
    lock its own serving lock held, and `billing migrate` for every server to stop."""
    env = host_env(empty_database_url, redis_url, tmp_path, BILLING_MIGRATE_ON_START="true")
    with run_servers(2, env, billing=[]) as urls:  # started together, both migrating
        migrated = billing_migrate(env)
        assert migrated.returncode == 0, migrated.stderr
        assert [httpx.get(url + "/readyz").status_code for url in urls] == [200, 200]


async def test_workers_finish_their_requests_on_sigterm(
    sqlite_database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """uvicorn's supervisor passes SIGTERM on to each worker, which finishes its requests
    within --graceful-timeout, writes its ledger and stops; a request still under way at
    the timeout is cancelled."""
    grace = 3
    env = host_env(sqlite_database_url, redis_url, tmp_path)
    options = ["--workers", "2", "--graceful-timeout", str(grace)]
    with run_server_processes(1, env, billing=options) as (server,):
        await until(lambda: server.error_output().count("Application startup complete") == 2, 30)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            meter = await metered_customer(Api(client), "enterprise_max")
        request = numbered_consume(meter.customer_id, meter.service)
        slow = [SlowRequest(server.url, request(n)) for n in range(6)]
        stuck = SlowRequest(server.url, request(99))
        for under_way in [*slow, stuck]:
            await under_way.begin()
        await asyncio.sleep(0.5)

        server.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        await asyncio.sleep(0.5)
        finished = [await under_way.finish() for under_way in slow]
        assert [reply.status_code for reply in finished] == [200] * 6
        assert await asyncio.to_thread(server.wait, grace + 10) == 0
        assert grace <= time.monotonic() - signalled < grace + 10
        # Cancelled at the timeout: uvicorn answers 500 (or would cut the connection).
        assert await status_of(stuck) in (500, None)
        assert server.error_output().count("Application shutdown complete") == 2
    recorded = {
        e["user_id"].int - 1 for e in await ledger_events(sqlite_database_url, meter.customer_id)
    }
    assert recorded == set(range(6))


async def status_of(request: SlowRequest) -> int | None:
    """The status of the answer, or None when the connection ended without one."""
    try:
        return (await request.reply()).status_code
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
