"""Sends the webhook deliveries that are due, in every serving process.

At least once: a delivery is committed with the change it reports (`app.events.outgoing`)
and stays pending until an endpoint answers 2xx, or its retries run out (the schedule of
`BILLING_WEBHOOK_RETRY_SECONDS`, a little over 27 hours by default, a day at least).
Each process claims a batch of due deliveries in one transaction: on PostgreSQL
`SELECT ... FOR UPDATE SKIP LOCKED`, so that concurrent claimers pass over each other's
rows, and for all databases by moving `next_attempt_at` past a lease and writing a claim
token. The outcome is recorded only while that token is still the worker's: a worker that
stalled past its lease finds the delivery taken over and leaves it alone. A stopped or
crashed worker's claims simply expire and are claimed again.

Every attempt of a delivery sends the same body and `webhook-id`; `webhook-timestamp` is
the real time of the attempt, which receivers check against their own clocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from standardwebhooks import Webhook

from app.core.clock import Clock, utcnow
from app.core.db import Database, affected_rows
from app.core.tasks import cancel
from app.events.outgoing import WAKE
from app.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from app.settings import DEFAULT_WEBHOOK_RETRY_SECONDS
from app.webhooks.sender import Outcome, Sender

logger = logging.getLogger(__name__)
# Each wait before a retry is up to this much longer at random, so that the retries of many
# deliveries failed together spread out.
JITTER = 0.1
DEFAULT_SCHEDULE = tuple(timedelta(seconds=wait) for wait in DEFAULT_WEBHOOK_RETRY_SECONDS)
# A claim is the worker's for this long: past an attempt's timeout, with room to record it.
LEASE = timedelta(seconds=60)
BATCH = 20
CONCURRENCY = 8
POLL_SECONDS = 2.0
# How often the events past their retention are deleted, with their deliveries and log.
PRUNE_EVERY = timedelta(hours=1)


def retry_delay(attempts: int, schedule: Sequence[timedelta]) -> timedelta | None:
    """The wait after the `attempts`-th failed attempt; None once the schedule is over."""
    if attempts > len(schedule):
        return None
    return schedule[attempts - 1] * (1 + random.uniform(0, JITTER))


@dataclass(frozen=True, slots=True)
class Claim:
    delivery: WebhookDelivery
    token: uuid.UUID
    endpoint: WebhookEndpoint
    body: str


class WebhookWorker:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        sender: Sender,
        *,
        stop_grace_seconds: float = 15.0,
        retention: timedelta = timedelta(days=30),
        retry_schedule: Sequence[timedelta] = DEFAULT_SCHEDULE,
        wall_clock: Clock = utcnow,
    ) -> None:
        self._db = db
        self._clock = clock
        self._wall_clock = wall_clock
        self._sender = sender
        self._grace = stop_grace_seconds
        self._retention = retention
        self._retry_schedule = retry_schedule
        self._pruned_at: datetime | None = None
        self._wake = asyncio.Event()
        self._pass = asyncio.Lock()
        self._in_flight = asyncio.Semaphore(CONCURRENCY)
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        db.on_commit(self._on_commit)

    def _on_commit(self, session: AsyncSession) -> None:
        """A committed delivery is sent at once rather than at the next poll."""
        if session.info.get(WAKE):
            self._wake.set()

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Let the attempts in flight finish, for a while; past it they are abandoned and
        their claims expire, to be attempted again."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), self._grace)
        await cancel(self._task)
        await self._sender.aclose()

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:
                logger.exception("sending webhooks failed; will retry")

    async def run_once(self) -> int:
        """Attempt every delivery that is due, after any pass in progress has finished;
        how many were attempted."""
        async with self._pass:
            attempted = 0
            while not self._stopping:
                claims = await self._claim()
                await asyncio.gather(*(self._attempt_within(claim) for claim in claims))
                attempted += len(claims)
                if len(claims) < BATCH:
                    break
            await self._prune()
            return attempted

    async def _prune(self) -> None:
        """Delete the events older than the retention that nothing is pending for; their
        deliveries and attempts go with them (the foreign keys cascade)."""
        now = self._clock()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        pending = exists().where(
            col(WebhookDelivery.event_id) == col(WebhookEvent.id),
            col(WebhookDelivery.status) == DeliveryStatus.PENDING,
        )
        async with self._db.transaction() as session:
            await session.execute(
                delete(WebhookEvent)
                .where(col(WebhookEvent.occurred_at) < now - self._retention, ~pending)
                .execution_options(synchronize_session=False)
            )

    async def _attempt_within(self, claim: Claim) -> None:
        """An attempt, when fewer than `CONCURRENCY` are in flight."""
        async with self._in_flight:
            await self._attempt(claim)

    async def _claim(self) -> list[Claim]:
        now, token = self._clock(), uuid.uuid4()
        async with self._db.transaction() as session:
            due = await session.scalars(
                select(col(WebhookDelivery.id))
                .where(
                    col(WebhookDelivery.status) == DeliveryStatus.PENDING,
                    col(WebhookDelivery.next_attempt_at) <= now,
                )
                .order_by(col(WebhookDelivery.next_attempt_at))
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
            ids = list(due)
            if not ids:
                return []
            await session.execute(
                update(WebhookDelivery)
                .where(col(WebhookDelivery.id).in_(ids))
                .values(next_attempt_at=now + LEASE, claim_token=token)
            )
            rows = await session.execute(
                select(WebhookDelivery, WebhookEndpoint, col(WebhookEvent.payload))
                .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
                .join(WebhookEvent, col(WebhookEvent.id) == col(WebhookDelivery.event_id))
                .where(col(WebhookDelivery.id).in_(ids))
                .execution_options(populate_existing=True)
            )
            return [Claim(delivery, token, endpoint, body) for delivery, endpoint, body in rows]

    async def _attempt(self, claim: Claim) -> None:
        at = self._clock()
        if not claim.endpoint.enabled:
            # Disabled since the event: nothing is sent; a replay can send it once enabled.
            await self._finish(claim, DeliveryStatus.FAILED, None, None)
            return
        headers = self._signed(claim, at)
        outcome = await self._sender.post(claim.endpoint.url, claim.body.encode(), headers)
        if not outcome.succeeded:
            logger.info(
                "webhook attempt failed",
                extra={"delivery": str(claim.delivery.id), "error": outcome.error},
            )
        await self._record(claim, outcome, at)

    def _signed(self, claim: Claim, at: datetime) -> dict[str, str]:
        """Standard Webhooks headers, signed with the secret and, for a while after a
        rotation, the previous one (receivers accept any signature that matches)."""
        endpoint = claim.endpoint
        secrets = [endpoint.secret]
        until = endpoint.previous_secret_until
        if endpoint.previous_secret and until is not None and until > at:
            secrets.append(endpoint.previous_secret)
        message_id, sent_at = claim.delivery.event_id, self._wall_clock()
        signatures = [Webhook(secret).sign(message_id, sent_at, claim.body) for secret in secrets]
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": " ".join(signatures),
        }

    async def _record(self, claim: Claim, outcome: Outcome, at: datetime) -> None:
        attempts = claim.delivery.attempts + 1
        delay = None if claim.delivery.manual else retry_delay(attempts, self._retry_schedule)
        if outcome.succeeded:
            status, next_attempt_at = DeliveryStatus.SUCCEEDED, None
        elif delay is None:
            status, next_attempt_at = DeliveryStatus.FAILED, None
        else:
            status, next_attempt_at = DeliveryStatus.PENDING, at + delay
        attempt = WebhookAttempt(
            delivery_id=claim.delivery.id,
            endpoint_id=claim.endpoint.id,
            attempted_at=at,
            succeeded=outcome.succeeded,
            latency_ms=outcome.latency_ms,
            response_status=outcome.status,
            response_excerpt=outcome.excerpt,
            error=outcome.error,
        )
        await self._finish(claim, status, next_attempt_at, attempt, attempts=attempts)

    async def _finish(
        self,
        claim: Claim,
        status: str,
        next_attempt_at: datetime | None,
        attempt: WebhookAttempt | None,
        *,
        attempts: int | None = None,
    ) -> None:
        """Write the outcome while the claim is still this worker's (not taken over after
        its lease, nor deleted with its endpoint)."""
        values: dict[str, object] = {
            "status": status,
            "next_attempt_at": next_attempt_at,
            "claim_token": None,
        }
        if attempt is not None:
            values.update(attempts=attempts, last_attempt_at=attempt.attempted_at)
        async with self._db.transaction() as session:
            kept = await affected_rows(
                session,
                update(WebhookDelivery)
                .where(
                    col(WebhookDelivery.id) == claim.delivery.id,
                    col(WebhookDelivery.claim_token) == claim.token,
                )
                .values(**values),
            )
            if kept == 1 and attempt is not None:
                session.add(attempt)
        if kept != 1:
            logger.warning(
                "a webhook delivery's claim was lost before its outcome was recorded",
                extra={"delivery": str(claim.delivery.id)},
            )
