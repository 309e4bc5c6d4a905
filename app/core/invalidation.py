"""Keeping in-process caches right when another process changes what they hold.

A write that changes cached data calls `invalidate(session, topic, key)` inside its
transaction: a row goes to the `cache_invalidation` log with the change, and once the
transaction commits this process drops the entry at once. Every process polls the log in
the background (a few times a second), so no request path ever asks the database whether
its cache is still right.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.clock import Clock
from app.core.db import Database
from app.core.tasks import cancel
from app.models import CacheInvalidation

logger = logging.getLogger(__name__)
Handler = Callable[[str], None]

# What changed, keyed as noted: the caches of each process subscribe to these.
MEMBERSHIP = "membership"  # a user joined or left a customer (user id)
CUSTOMER = "customer"  # a customer's tier changed or it was deleted (customer id)
TIERS = "tiers"  # tiers or the default tier changed
CATALOG = "catalog"  # features or their tier values changed
OVERRIDES = "overrides"  # a customer's overrides changed (customer id)
ROLES = "roles"  # a user's granted platform roles changed (user id)
API_KEY = "api_key"  # an API key was revoked (its public key)
INVITATION = "invitation"  # an invitation was sent (the lower-case e-mail)
ALERT_THRESHOLDS = "alert_thresholds"  # a customer's alert thresholds changed (customer id)
PENDING = "billing.invalidations"
POLL_SECONDS = 0.25
# Rows are numbered before their transaction commits, so a row may appear behind one
# already read: each poll looks this far back and skips what it has seen.
LOOKBACK = 500
KEEP = timedelta(hours=1)


def invalidate(session: AsyncSession, topic: str, key: object) -> None:
    clock: Clock = session.info["clock"]
    session.add(CacheInvalidation(topic=topic, key=str(key), created_at=clock()))
    session.info.setdefault(PENDING, []).append((topic, str(key)))


class Invalidator:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._seen: set[int] = set()
        self._watermark = 0
        self._task: asyncio.Task[None] | None = None
        db.on_commit(self._committed)

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers[topic].append(handler)

    def _committed(self, session: AsyncSession) -> None:
        for topic, key in session.info.pop(PENDING, []):
            self._dispatch(topic, key)

    def _dispatch(self, topic: str, key: str) -> None:
        for handler in self._handlers[topic]:
            handler(key)

    async def start(self) -> None:
        async with self._db.transaction(write=False) as session:
            self._watermark = int(
                await session.scalar(select(func.coalesce(func.max(CacheInvalidation.seq), 0))) or 0
            )
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        await cancel(self._task)

    async def _run(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                await self.poll()
                rounds += 1
                if rounds % 240 == 0:
                    await self._prune()
            except Exception:
                logger.exception("polling cache invalidations failed")

    async def poll(self) -> None:
        since = max(0, self._watermark - LOOKBACK)
        async with self._db.transaction(write=False) as session:
            rows = (
                await session.execute(
                    select(
                        col(CacheInvalidation.seq),
                        col(CacheInvalidation.topic),
                        col(CacheInvalidation.key),
                    )
                    .where(col(CacheInvalidation.seq) > since)
                    .order_by(col(CacheInvalidation.seq))
                )
            ).all()
        for seq, topic, key in rows:
            if seq is None or seq in self._seen:
                continue
            self._seen.add(seq)
            self._watermark = max(self._watermark, seq)
            self._dispatch(topic, key)
        self._seen = {seq for seq in self._seen if seq > self._watermark - LOOKBACK}

    async def _prune(self) -> None:
        async with self._db.transaction() as session:
            await session.execute(
                delete(CacheInvalidation).where(
                    col(CacheInvalidation.created_at) < self._clock() - KEEP
                )
            )
