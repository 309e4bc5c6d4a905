"""The background work of the Stripe integration, in every process that has Stripe settings:
the outbox's due tasks, and the end of past_due grace periods (no event marks it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.outbox import StripeOutbox
from app.billing.service import BillingService
from app.core.db import Database
from app.core.stripe_tasks import WAKE
from app.core.tasks import cancel

logger = logging.getLogger(__name__)
POLL_SECONDS = 5.0


class BillingWorker:
    def __init__(self, db: Database, outbox: StripeOutbox, billing: BillingService) -> None:
        self._outbox = outbox
        self._billing = billing
        self._wake = asyncio.Event()
        self._pass = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        db.on_commit(self._on_commit)

    def _on_commit(self, session: AsyncSession) -> None:
        """A committed task is started at once rather than at the next poll."""
        if session.info.get(WAKE):
            self._wake.set()

    async def start(self) -> None:
        if self._billing.configured:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        await cancel(self._task)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:
                logger.exception("the Stripe background work failed; will retry")

    async def run_once(self) -> None:
        """One pass over what is due, after any pass in progress has finished."""
        async with self._pass:
            await self._outbox.run_due()
            await self._billing.end_grace_periods()
