"""The notifier of live usage and its Redis fan-out (`app.usage.notifier`,
`app.usage.fanout`), without a server: what one process marks reaches the listeners of
every process, and a Redis that goes away and comes back costs nothing but the wait."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import redis

from app.catalog.model import Window
from app.usage.fanout import RedisFanOut, channel_of, decode, encode
from app.usage.notifier import FLUSH_SECONDS, Batch, LocalFanOut, UsageAlert, UsageNotifier
from tests.support.redis import RedisServer, own_redis


def alert(customer_id: uuid.UUID) -> UsageAlert:
    return UsageAlert(
        customer_id, "ai-api", "chat", Window.DAY, 90, 90, 100, datetime(2030, 1, 1, tzinfo=UTC)
    )


@pytest.fixture
async def local() -> AsyncIterator[UsageNotifier]:
    notifier = UsageNotifier(LocalFanOut())
    await notifier.start()
    try:
        yield notifier
    finally:
        await notifier.stop()


class TestInProcess:
    async def test_changes_are_sent_together_after_a_short_wait(self, local: UsageNotifier) -> None:
        customer, other = uuid.uuid4(), uuid.uuid4()
        watching, elsewhere = local.listen_usage(customer), local.listen_usage(other)
        for _ in range(100):
            local.changed(customer)
        assert not await watching.changed(within=FLUSH_SECONDS / 2)  # gathered first
        assert await watching.changed(within=1.0)
        assert not await watching.changed(within=FLUSH_SECONDS * 2)  # one wake for all
        assert not await elsewhere.changed(within=0)

    async def test_alerts_go_to_their_customers_listeners_in_order(
        self, local: UsageNotifier
    ) -> None:
        customer = uuid.uuid4()
        listener = local.listen_alerts(customer)
        first, second = alert(customer), alert(customer)
        local.publish_alert(first)
        local.publish_alert(alert(uuid.uuid4()))
        local.publish_alert(second)
        assert await asyncio.wait_for(listener.next(), 1.0) is first
        assert await asyncio.wait_for(listener.next(), 1.0) is second

    async def test_stopping_closes_every_listener(self, local: UsageNotifier) -> None:
        usage, alerts = local.listen_usage(uuid.uuid4()), local.listen_alerts(uuid.uuid4())
        await local.stop()
        assert usage.closed and await usage.changed(within=0)
        assert await alerts.next() is None

    async def test_a_forgotten_listener_is_let_go_of(self, local: UsageNotifier) -> None:
        customer = uuid.uuid4()
        listener = local.listen_usage(customer)
        local.forget(listener)
        local.forget(listener)  # twice is harmless
        assert local._listeners == {}


def test_a_batch_survives_the_wire() -> None:
    customer = uuid.uuid4()
    batch = Batch([customer], [alert(customer)])
    assert decode(encode(batch)) == batch


async def notifier_on(url: str) -> UsageNotifier:
    notifier = UsageNotifier(RedisFanOut(url))
    await notifier.start()
    return notifier


async def subscribed(url: str, count: int, within: float = 10.0) -> None:
    """Once `count` processes subscribe to the channel of `url`."""
    with redis.Redis.from_url(url) as client:
        channel = channel_of(client)
        deadline = asyncio.get_running_loop().time() + within
        while client.pubsub_numsub(channel)[0][1] < count:
            assert asyncio.get_running_loop().time() < deadline, "never subscribed"
            await asyncio.sleep(0.05)


class TestOnRedis:
    async def test_what_one_process_marks_reaches_the_others(self, redis_url: str) -> None:
        one, other = await notifier_on(redis_url), await notifier_on(redis_url)
        try:
            await subscribed(redis_url, 2)
            customer = uuid.uuid4()
            here, there = one.listen_usage(customer), other.listen_usage(customer)
            alerts = other.listen_alerts(customer)
            one.changed(customer)
            one.publish_alert(alert(customer))
            assert await here.changed(within=1.0)
            assert await there.changed(within=1.0)
            received = await asyncio.wait_for(alerts.next(), 1.0)
            assert received == alert(customer)
        finally:
            await one.stop()
            await other.stop()

    async def test_the_channel_names_the_database(self, redis_server: RedisServer) -> None:
        for database in (0, 3):
            fan_out = RedisFanOut(redis_server.url(database))
            assert channel_of(fan_out._publisher) == f"billing:live-usage:{database}"
            await fan_out.stop()

    async def test_a_lost_redis_is_found_again_and_logged_once(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        with own_redis() as server:
            notifier = await notifier_on(server.url())
            try:
                await subscribed(server.url(), 1)
                customer = uuid.uuid4()
                listener = notifier.listen_usage(customer)
                with caplog.at_level(logging.WARNING):
                    server.process.terminate()  # type: ignore[union-attr]
                    server.process.wait(10)  # type: ignore[union-attr]
                    for _ in range(5):  # marked while Redis is away: nothing fails
                        notifier.changed(customer)
                        await asyncio.sleep(FLUSH_SECONDS * 2)
                    server._launch(15)
                    # Back: the subscription is made again and every listener reads again.
                    assert await listener.changed(within=20)
                    while await listener.changed(within=FLUSH_SECONDS * 3):
                        pass  # the changes kept while away, sent once Redis is back
                    notifier.changed(customer)
                    assert await listener.changed(within=2.0)
                warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
                by_logger = {r.name for r in warnings}
                assert len(warnings) == len(by_logger) <= 2, [r.getMessage() for r in warnings]
            finally:
                await notifier.stop()
