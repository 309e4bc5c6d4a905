"""Answers to requests that carried an `idempotencyKey`, kept beside the counters so
every process sees them. A repeat gets the first answer; a repeat that arrives while the
first is still being decided waits for it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from app.core import metrics
from app.core.errors import Conflict
from app.usage.counters import CounterStore

PENDING = "pending"
KEEP_SECONDS = 24 * 3600
WAIT_SECONDS = 10.0
# A first attempt that never stores its answer (its process died, the store failed) must
# not block its key for a day: the mark lapses. Not before any first attempt could still
# be deciding, though (a rebuild of lost counters makes a decision wait up to 15 seconds,
# a ledger that is behind up to 5), or a repeat would decide a second time.
PENDING_SECONDS = 30


class IdempotencyStore:
    def __init__(self, store: CounterStore) -> None:
        self._store = store

    async def once(
        self, key: str, decide: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        """The first answer for `key`, computing it with `decide` only if there is none."""
        if await self._store.put_text(key, PENDING, PENDING_SECONDS):
            try:
                answer = await decide()
            except BaseException:
                await self._store.delete(key)
                raise
            await self._store.replace_text(key, json.dumps(answer), KEEP_SECONDS)
            return answer
        return await self._wait(key, decide)

    async def _wait(
        self, key: str, decide: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
        while asyncio.get_running_loop().time() < deadline:
            stored = await self._store.get_text(key)
            if stored is None:  # the first attempt failed: this one decides
                return await self.once(key, decide)
            if stored != PENDING:
                answer: dict[str, Any] = json.loads(stored)
                metrics.IDEMPOTENT_REPLAYS.inc()
                return answer
            await asyncio.sleep(0.01)
        raise Conflict("The first request with this idempotency key is still being decided.")
