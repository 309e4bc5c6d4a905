"""Live usage across processes on Redis pub/sub (see `app.usage.notifier`).

Every serving process publishes its batches on one channel and subscribes to it, its own
batches included, so a change reaches the listeners of every process the same way. Pub/sub
keeps nothing for a subscriber that is away: after each (re)subscription every local
listener reads its usage again (`Batch.everyone`), so none keeps an old value.

A lost connection never takes the API down: the subscriber reconnects with a growing
pause, a failed publish is retried by the notifier, and either is logged once a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from typing import Any

import orjson
from redis.asyncio import Redis

from app.core.tasks import cancel
from app.usage.notifier import (
    RETRY_SECONDS,
    STOP_SECONDS,
    WARN_EVERY_SECONDS,
    Batch,
    Deliver,
    FanOut,
    LocalFanOut,
    UsageAlert,
)

logger = logging.getLogger(__name__)
CONNECT_TIMEOUT_SECONDS = 5.0
# A subscription that heard nothing this long sends a PING; one whose PING is not answered
# within the next period is taken for lost and made again.
IDLE_SECONDS = 15.0
# The subscriber reads in slices this long, and looks whether it should stop between them:
# redis-py's read can lose a cancellation (seen as a shutdown that hung).
READ_SECONDS = 1.0


def fan_out(uri: str) -> FanOut:
    """Redis pub/sub beside Redis counters; in the process beside process-local ones."""
    if uri.split("://", 1)[0] in ("redis", "rediss"):
        return RedisFanOut(uri)
    return LocalFanOut()


def channel_of(client: Redis) -> str:
    """Pub/sub channels are shared by every database of a server: the channel names the
    database, as the counters' keys are the database's."""
    database = client.connection_pool.connection_kwargs.get("db", 0)
    return f"billing:live-usage:{database}"


def encode(batch: Batch) -> bytes:
    return orjson.dumps(
        {
            "customers": [str(customer_id) for customer_id in batch.customers],
            "alerts": [alert.to_json() for alert in batch.alerts],
        }
    )


def decode(data: bytes | str) -> Batch:
    body: dict[str, Any] = orjson.loads(data)
    return Batch(
        [uuid.UUID(customer_id) for customer_id in body.get("customers", ())],
        [UsageAlert.from_json(alert) for alert in body.get("alerts", ())],
    )


class RedisFanOut:
    def __init__(self, uri: str) -> None:
        options: dict[str, Any] = {
            "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "socket_timeout": CONNECT_TIMEOUT_SECONDS,
            "socket_keepalive": True,
        }
        self._publisher: Redis = Redis.from_url(uri, max_connections=2, **options)
        self._subscriber: Redis = Redis.from_url(uri, max_connections=2, **options)
        self._channel = channel_of(self._publisher)
        self._deliver: Deliver | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._warned_at = -math.inf

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._stopping = False
        self._task = asyncio.create_task(self._subscribe(), name="live-usage-subscriber")

    async def send(self, batch: Batch) -> None:
        await self._publisher.publish(self._channel, encode(batch))

    async def stop(self) -> None:
        self._stopping = True
        await cancel(self._task, within=STOP_SECONDS)
        self._task = None
        self._deliver = None
        for client in (self._publisher, self._subscriber):
            with contextlib.suppress(Exception):
                await client.aclose()

    async def _subscribe(self) -> None:
        retry = RETRY_SECONDS[0]
        while not self._stopping:
            pubsub = self._subscriber.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                retry = RETRY_SECONDS[0]
                await self._listen(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._stopping:  # a cancelled read may surface as a connection error
                    return
                self._warn(exc)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            if self._stopping:
                return
            await asyncio.sleep(retry)
            retry = min(retry * 2, RETRY_SECONDS[1])

    async def _listen(self, pubsub: Any) -> None:
        idle = 0.0
        waiting_for_pong = False
        while not self._stopping:
            message = await pubsub.get_message(timeout=READ_SECONDS)
            if message is not None:
                idle, waiting_for_pong = 0.0, False
                self._receive(message)
                continue
            idle += READ_SECONDS
            if idle >= IDLE_SECONDS:
                if waiting_for_pong:
                    raise ConnectionError("Redis did not answer a PING on the subscription")
                await pubsub.ping()
                idle, waiting_for_pong = 0.0, True

    def _receive(self, message: dict[str, Any]) -> None:
        if self._deliver is None:
            return
        kind = message.get("type")
        if kind == "subscribe":  # (re)subscribed: what was sent meanwhile is lost
            self._deliver(Batch(everyone=True))
        elif kind == "message":
            try:
                batch = decode(message["data"])
            except (ValueError, KeyError, TypeError) as exc:
                logger.warning("a live usage message could not be read", exc_info=exc)
                return
            self._deliver(batch)

    def _warn(self, exc: Exception) -> None:
        if time.monotonic() - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = time.monotonic()
            logger.warning("live usage: the Redis subscription failed; reconnecting", exc_info=exc)
