"""Counters survive what the counter storage does not (SPEC §3.4, "Counters and ledger").

Every consume goes to the SQL ledger, written in batches behind the request. A killed
process loses at most the last second of hits, a graceful stop none; hour, day and month
counters are re-seeded from the ledger when their storage lost them: a restart of the
embedded default (in-process counters), or a flushed Redis under a running server.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from app.catalog.model import Window
from app.core.db import Database
from app.models import UsageEvent
from app.settings import Settings
from app.usage.ledger import Ledger
from app.usage.reseed import INTACT_FLAG
from app.usage.windows import window_bounds
from tests.support.api import SECRET, Api, running_api, settings_for
from tests.support.clock import MovableClock
from tests.support.databases import sqlite_url
from tests.support.metering import (
    DAY_FEATURE,
    Meter,
    decision,
    ledger_events,
    ledger_total,
    metered_customer,
    with_day_feature,
)
from tests.support.redis import RedisServer, own_redis
from tests.support.servers import Server, run_server_processes

MINUTE = "ai-api/chat_completions_per_minute"
HOUR = "feeds-api/feeds_download_per_hour"
DAY = DAY_FEATURE
MONTH = "ai-api/chat_completions_per_month"
RESEEDED = {HOUR: Window.HOUR, DAY: Window.DAY, MONTH: Window.MONTH}
LOSS_SECONDS = 1.0  # what a killed process may lose (SPEC §3.4)
RESEED_WITHIN_SECONDS = 3.0
LOAD_SECONDS = 2.5


async def eventually(
    read: Callable[[], Awaitable[object]], expected: object, within: float
) -> object:
    """What `read` answers once it answers `expected`, or its last answer at the deadline."""
    deadline = time.monotonic() + within
    while True:
        answer = await read()
        if answer == expected or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.1)


async def usage_once_reachable(meter: Meter, feature: str) -> int | None:
    """The feature's counter, or None while the counter storage cannot be reached."""
    response = await meter.check(feature)
    if response.status_code == 503:
        meter.api.expect_server_errors = True
        return None
    assert response.status_code in (200, 429), response.text
    usage: int = decision(response)["currentUsage"]
    return usage


async def usages(meter: Meter, features: list[str]) -> dict[str, int]:
    return {feature: await meter.usage(feature) for feature in features}


class TestRestartOfTheEmbeddedDefault:
    """In-process counters are lost with the process and rebuilt from the ledger at start."""

    @pytest.fixture
    def settings(self, database_url: str, tmp_path: Path) -> Settings:
        return settings_for(database_url, tmp_path, catalog_file=with_day_feature(tmp_path))

    async def test_hour_day_and_month_counters_read_the_same_after_a_restart(
        self, settings: Settings, clock: MovableClock
    ) -> None:
        clock.now = datetime(2027, 2, 28, 23, 30, tzinfo=UTC)
        async with running_api(settings, clock) as api:
            meter = await metered_customer(api, "free")
            other = await metered_customer(api, "free")
            for feature, amount in ((HOUR, 4), (DAY, 3), (MONTH, 7), (MINUTE, 2)):
                assert (await meter.consume(feature, amount)).status_code == 200
            assert (await meter.consume(DAY)).status_code == 429  # refusals count for nothing
            assert (await other.consume(MONTH, 5)).status_code == 200
            before = await usages(meter, list(RESEEDED))

        clock.advance(minutes=10)
        async with running_api(settings, clock) as api:
            meter = Meter(api, meter.customer_id)
            assert await usages(meter, list(RESEEDED)) == before == {HOUR: 4, DAY: 3, MONTH: 7}
            assert await Meter(api, other.customer_id).usage(MONTH) == 5
            assert (await meter.consume(DAY)).status_code == 429
            assert (await meter.consume(MONTH)).json()["currentUsage"] == 8

    async def test_windows_that_ended_while_stopped_start_again_from_zero(
        self, settings: Settings, clock: MovableClock
    ) -> None:
        clock.now = datetime(2027, 2, 28, 23, 30, tzinfo=UTC)
        async with running_api(settings, clock) as api:
            meter = await metered_customer(api, "free")
            for feature in RESEEDED:
                assert (await meter.consume(feature, 2)).status_code == 200

        clock.now = datetime(2027, 3, 1, 0, 10, tzinfo=UTC)
        async with running_api(settings, clock) as api:
            meter = Meter(api, meter.customer_id)
            assert await usages(meter, list(RESEEDED)) == {HOUR: 0, DAY: 0, MONTH: 0}


class TestFlushedRedis:
    @pytest.fixture
    async def api(
        self, database_url: str, redis_url: str, tmp_path: Path, clock: MovableClock
    ) -> AsyncIterator[Api]:
        settings = settings_for(
            database_url,
            tmp_path,
            rate_limit_storage=redis_url,
            catalog_file=with_day_feature(tmp_path),
        )
        async with running_api(settings, clock) as api:
            yield api

    async def test_a_running_server_reseeds_a_flushed_redis_from_the_ledger(
        self, api: Api, redis_server: RedisServer
    ) -> None:
        meter = await metered_customer(api, "free")
        expected = {HOUR: 4, DAY: 2, MONTH: 7}
        for feature, amount in expected.items():
            assert (await meter.consume(feature, amount)).status_code == 200
        await api.container.ledger.flush()

        redis_server.flush()

        read = partial(usages, meter, list(expected))
        assert await eventually(read, expected, RESEED_WITHIN_SECONDS) == expected
        await asyncio.sleep(1.5)  # the next checks find the counters intact: no second seeding
        assert await usages(meter, list(expected)) == expected

    async def test_hits_between_the_loss_and_the_reseeding_count_once(
        self, api: Api, redis_server: RedisServer
    ) -> None:
        meter = await metered_customer(api, "free")
        await meter.consume(MONTH, 7)
        await api.container.ledger.flush()
        redis_server.flush()
        await meter.consume(MONTH, 3)  # counted from zero, and written to the ledger too
        await api.container.ledger.flush()

        await api.container.counter_guard.ensure_intact()

        assert await meter.usage(MONTH) == 10

    async def test_counters_that_survived_a_lost_flag_are_not_counted_again(
        self, api: Api, redis_server: RedisServer
    ) -> None:
        meter = await metered_customer(api, "free")
        await meter.consume(MONTH, 7)
        await api.container.ledger.flush()
        with redis_server.client() as client:  # evicted alone, as an LRU policy may do
            assert client.delete(*client.keys(f"*{INTACT_FLAG}")) == 1

        await api.container.counter_guard.ensure_intact()

        assert await meter.usage(MONTH) == 7


class TestRedisRestoredFromASnapshot:
    async def test_counters_older_than_the_ledger_are_rebuilt(
        self, database_url: str, tmp_path: Path
    ) -> None:
        """A Redis restarted from a snapshot brings back the intact flag with the counters
        of that moment: what was consumed since is in the ledger only. The restart is
        noticed (its run id) and the counters rebuilt."""
        with own_redis() as redis:
            settings = settings_for(database_url, tmp_path, rate_limit_storage=redis.url())
            async with running_api(settings) as api:
                meter = await metered_customer(api, "free")
                assert (await meter.consume(MONTH, 3)).status_code == 200
                with redis.client() as client:
                    client.save()  # the snapshot: 3, and the flag
                assert (await meter.consume(MONTH, 4)).status_code == 200
                await api.container.ledger.flush()

                redis.restart()

                # A decision may meet the restart itself (503, to retry); none counts on
                # the snapshot's counters for more than the check's interval.
                read = partial(usage_once_reachable, meter, MONTH)
                assert await eventually(read, 7, RESEED_WITHIN_SECONDS) == 7


class TestEvictingRedis:
    async def test_a_redis_that_may_evict_counters_is_refused_at_start(
        self, database_url: str, redis_url: str, redis_server: RedisServer, tmp_path: Path
    ) -> None:
        settings = settings_for(database_url, tmp_path, rate_limit_storage=redis_url)
        with redis_server.client() as client:
            client.config_set("maxmemory", "100mb")
            client.config_set("maxmemory-policy", "volatile-lru")
            try:
                with pytest.raises(RuntimeError, match="maxmemory-policy volatile-lru"):
                    async with running_api(settings):
                        pass
                client.config_set("maxmemory-policy", "noeviction")
                async with running_api(settings) as api:  # a limit that evicts nothing
                    assert (await api.client.get("/readyz")).status_code == 200
            finally:
                client.config_set("maxmemory", "0")
                client.config_set("maxmemory-policy", "noeviction")


def ledger_rows(amounts: range) -> list[dict[str, object]]:
    now = datetime.now(UTC)
    return [
        {
            "subject": "ip:198.51.100.1",
            "customer_id": None,
            "user_id": None,
            "feature_id": uuid.uuid4(),
            "service_name": "ai-api",
            "feature_key": "chat_completions_per_month",
            "type": "rate_limit",
            "amount": amount,
            "allowed": True,
            "occurred_at": now,
            "window": "month",
            "window_start": now,
        }
        for amount in amounts
    ]


class TestLedger:
    @pytest.mark.parametrize("rows_after", [0, 1], ids=["none-after", "one-after"])
    async def test_a_stop_in_the_middle_of_a_write_loses_nothing(
        self, sqlite_database_url: str, rows_after: int
    ) -> None:
        """The background write waits on the database's lock, held by another connection,
        while the service stops: the stop must wait for it to finish (even with nothing
        left in the buffer), and write what came after."""
        database = Database(sqlite_database_url)
        ledger = Ledger(database, flush_seconds=0.01)
        path = sqlite_database_url.split("///", 1)[1]
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            await ledger.start()
            for row in ledger_rows(range(1, 4)):
                ledger.record(row)
            await asyncio.sleep(0.2)  # the background write has them, and waits
            for row in ledger_rows(range(4, 4 + rows_after)):
                ledger.record(row)
            stopping = asyncio.create_task(ledger.stop())
            await asyncio.sleep(0.05)
            assert not stopping.done()
        finally:
            blocker.execute("COMMIT")
            blocker.close()
        await asyncio.wait_for(stopping, 30)

        async with database.transaction(write=False) as session:
            amounts = await session.scalars(select(col(UsageEvent.amount)))
            assert sorted(amounts) == list(range(1, 4 + rows_after))
        await database.dispose()

    async def test_a_row_counts_as_unwritten_since_its_decision_began(
        self, sqlite_database_url: str
    ) -> None:
        """A rebuild after a loss of shared counters waits for the rows of decisions begun
        before it, however late they reach the ledger."""
        database = Database(sqlite_database_url)
        ledger = Ledger(database)
        began = time.time() - 30
        ledger.record(ledger_rows(range(1, 2))[0], began)
        assert ledger.written_through() == began
        await ledger.flush()
        assert ledger.written_through() > began + 29
        await database.dispose()


# Real server processes from here on: the load comes from another process's point of view.


@dataclass
class Load:
    """Consumes sent by a steady load, each with its own `userId` so that the ledger tells
    them apart, and when each 200 arrived (client clock)."""

    sent: set[uuid.UUID] = field(default_factory=set)
    acknowledged: dict[uuid.UUID, float] = field(default_factory=dict)
    unexpected: list[int] = field(default_factory=list)


async def steady_load(meter: Meter, feature: str, *, workers: int = 8) -> Load:
    """Consume without pause until the server goes away."""
    load = Load()

    async def worker() -> None:
        while True:
            user = uuid.uuid4()
            load.sent.add(user)
            try:
                response = await meter.consume(feature, userId=str(user))
            except httpx.TransportError:
                return
            if response.status_code == 200:
                load.acknowledged[user] = time.time()
            else:
                load.unexpected.append(response.status_code)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return load


async def load_until_signal(
    server: Server, signum: signal.Signals, meter: Meter
) -> tuple[Load, float]:
    """A steady load on the month feature; `signum` goes to the server while it runs.
    Returns the load and when the signal was sent (client clock)."""
    running = asyncio.create_task(steady_load(meter, MONTH))
    await asyncio.sleep(LOAD_SECONDS)
    signalled_at = time.time()
    server.send_signal(signum)
    load = await asyncio.wait_for(running, 30)
    await asyncio.to_thread(server.wait)
    return load, signalled_at


@asynccontextmanager
async def embedded_server(data_dir: Path) -> AsyncIterator[tuple[Server, Api]]:
    """The embedded default in its own process: SQLite in the data directory (created and
    migrated on first start) and in-process counters."""
    env = {
        "BILLING_DATA_DIR": str(data_dir),
        "BILLING_JWT_SECRET": SECRET,
        "BILLING_CATALOG_FILE": str(with_day_feature(data_dir.parent)),
        "BILLING_SELF_LIMIT_USER": "100000000/minute",
        "BILLING_SELF_LIMIT_ANONYMOUS": "100000000/minute",
    }
    with run_server_processes(1, env, timeout=60) as (server,):
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            yield server, Api(client)


async def clear_of_an_hour_boundary(margin: float = 20.0) -> None:
    """Wait for the next hour if this one ends within `margin` seconds: tests on the real
    clock expect hour, day and month windows not to change under them."""
    now = datetime.now(UTC)
    _, end = window_bounds(Window.HOUR, now)
    if (end - now).total_seconds() < margin:
        await asyncio.sleep((end - now).total_seconds() + 0.1)


@pytest.mark.slow
class TestProcessStops:
    async def test_a_killed_process_loses_at_most_the_last_second(self, tmp_path: Path) -> None:
        data_dir = tmp_path / "data"
        async with embedded_server(data_dir) as (server, api):
            meter = await metered_customer(api, "enterprise")
            assert await meter.usage(MONTH) == 0
            load, killed_at = await load_until_signal(server, signal.SIGKILL, meter)
            assert server.process.returncode == -signal.SIGKILL

        ledger = sqlite_url(data_dir / "billing.sqlite3")
        recorded = [e["user_id"] for e in await ledger_events(ledger, meter.customer_id)]
        assert len(recorded) == len(set(recorded)), "a consume was recorded twice"
        assert set(recorded) <= load.sent
        assert not load.unexpected
        settled = {u for u, at in load.acknowledged.items() if at < killed_at - LOSS_SECONDS}
        assert len(settled) > 100, "the load was too light to show anything"
        lost = settled - set(recorded)
        assert not lost, f"{len(lost)} of {len(settled)} settled consumes missing from the ledger"

        async with embedded_server(data_dir) as (_, api):
            # The counter starts again from what the ledger kept.
            assert await Meter(api, meter.customer_id).usage(MONTH) == len(recorded)

    async def test_a_graceful_stop_loses_nothing_and_counters_read_the_same_after(
        self, tmp_path: Path
    ) -> None:
        await clear_of_an_hour_boundary()
        data_dir = tmp_path / "data"
        async with embedded_server(data_dir) as (server, api):
            meter = await metered_customer(api, "enterprise")
            for feature, amount in ((HOUR, 3), (DAY, 2)):
                assert (await meter.consume(feature, amount)).status_code == 200
            load, _ = await load_until_signal(server, signal.SIGTERM, meter)
            # uvicorn re-raises SIGTERM once its shutdown is complete
            assert "Application shutdown complete" in server.error_output()

        ledger = sqlite_url(data_dir / "billing.sqlite3")
        recorded = {e["user_id"] for e in await ledger_events(ledger, meter.customer_id)}
        assert not load.unexpected
        assert len(load.acknowledged) > 100, "the load was too light to show anything"
        missing = set(load.acknowledged) - recorded
        assert not missing, f"{len(missing)} acknowledged consumes missing from the ledger"
        month_total = await ledger_total(ledger, meter.customer_id, MONTH)
        assert month_total >= len(load.acknowledged)

        async with embedded_server(data_dir) as (_, api):
            meter = Meter(api, meter.customer_id)
            assert await usages(meter, [MONTH, HOUR, DAY]) == {
                MONTH: month_total,
                HOUR: 3,
                DAY: 2,
            }
            assert (await meter.consume(MONTH)).json()["currentUsage"] == month_total + 1

    async def test_running_servers_reseed_a_flushed_redis_within_seconds(
        self, sqlite_database_url: str, redis_url: str, redis_server: RedisServer, tmp_path: Path
    ) -> None:
        await clear_of_an_hour_boundary()
        env = {
            "BILLING_DATABASE_URL": sqlite_database_url,
            "BILLING_DATA_DIR": str(tmp_path),
            "BILLING_JWT_SECRET": SECRET,
            "BILLING_MIGRATE_ON_START": "false",
            "BILLING_RATE_LIMIT_STORAGE": redis_url,
            "BILLING_CATALOG_FILE": str(with_day_feature(tmp_path)),
        }
        expected = {HOUR: 4, DAY: 2, MONTH: 7}
        with run_server_processes(2, env) as servers:
            async with (
                httpx.AsyncClient(base_url=servers[0].url, timeout=30) as first,
                httpx.AsyncClient(base_url=servers[1].url, timeout=30) as second,
            ):
                meter = await metered_customer(Api(first), "free")
                meters = [meter, Meter(Api(second), meter.customer_id, meter.service)]
                for n, (feature, amount) in enumerate(expected.items()):
                    response = await meters[n % 2].consume(feature, amount)
                    assert response.status_code == 200, response.text
                for feature, amount in expected.items():  # both processes wrote their batches
                    written = partial(ledger_total, sqlite_database_url, meter.customer_id, feature)
                    assert await eventually(written, amount, 2.0) == amount

                redis_server.flush()

                for reader in meters:
                    read = partial(usages, reader, list(expected))
                    assert await eventually(read, expected, RESEED_WITHIN_SECONDS) == expected
                await asyncio.sleep(1.5)  # both processes find the counters intact again
                for reader in meters:
                    assert await usages(reader, list(expected)) == expected
