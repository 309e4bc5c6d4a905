"""Calls Stripe must receive, committed with the change that needs them, made afterwards.

Why an outbox rather than a compensating step: a customer is created (or deleted) in our
database and its Stripe task in the same transaction, so neither exists without the other,
whatever fails. The call itself happens after the commit and is retried until Stripe has
it; its idempotency key is derived from our customer's id, so a retry after a lost answer,
a crash or a second process doing the same task never makes a second Stripe customer.
A compensating step (call Stripe first, undo it if our insert fails) leaves a Stripe
customer behind whenever the process dies between the two, and cannot be retried safely.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlmodel import col

from app.billing.gateway import PaymentGateway
from app.core.clock import Clock
from app.core.db import Database, affected_rows
from app.core.stripe_tasks import CANCEL_SUBSCRIPTIONS, CREATE_CUSTOMER, UPDATE_CUSTOMER
from app.models import Customer, StripeTask

logger = logging.getLogger(__name__)
BATCH = 50
# A worker owns a task it leased for this long; another may take it over afterwards.
LEASE = timedelta(seconds=60)
# Stripe keeps an idempotency key for 24 hours: a task older than this first looks for a
# customer an earlier attempt may have made (Stripe's search lags writes by a minute at
# most, long past by then).
KEY_LIFETIME = timedelta(hours=23)
MAX_BACKOFF_SECONDS = 600


def customer_idempotency_key(customer_id: uuid.UUID) -> str:
    return f"billing-customer-{customer_id}"


class CustomerNotInStripeYet(Exception):
    def __str__(self) -> str:
        return "the customer is not in Stripe yet"


class StripeOutbox:
    def __init__(self, db: Database, clock: Clock, gateway: PaymentGateway | None) -> None:
        self._db = db
        self._clock = clock
        self._gateway = gateway

    async def run_due(self) -> int:
        """Carry out every task that is due; how many were done."""
        now = self._clock()
        async with self._db.transaction(write=False) as session:
            due = list(
                await session.scalars(
                    select(StripeTask)
                    .where(col(StripeTask.next_attempt_at) <= now)
                    .order_by(col(StripeTask.created_at))
                    .limit(BATCH)
                )
            )
        done = 0
        for task in due:
            lease = await self._lease(task)
            if lease is not None:
                done += await self._carry_out(task, lease)
        return done

    async def stripe_customer_id(self, customer: Customer) -> str:
        """The customer's Stripe id, created now if its task has not run yet."""
        if customer.stripe_customer_id is not None:
            return customer.stripe_customer_id
        return await self._create_customer(customer)

    async def _lease(self, task: StripeTask) -> datetime | None:
        """The end of this worker's lease on the task, or None when another worker's
        conditional update matched first."""
        lease = self._clock() + LEASE
        async with self._db.transaction() as session:
            leased = await affected_rows(
                session,
                update(StripeTask)
                .where(
                    col(StripeTask.id) == task.id,
                    col(StripeTask.next_attempt_at) == task.next_attempt_at,
                )
                .values(next_attempt_at=lease),
            )
        return lease if leased == 1 else None

    async def _carry_out(self, task: StripeTask, lease: datetime) -> int:
        try:
            if task.kind == CREATE_CUSTOMER:
                await self._create_task_customer(task)
            elif task.kind == UPDATE_CUSTOMER:
                await self._update_task_customer(task)
            elif task.kind == CANCEL_SUBSCRIPTIONS:
                await self._cancel_subscriptions(task)
            else:
                logger.error("unknown Stripe task kind %s; dropped", task.kind)
        except Exception as exc:
            await self._retry_later(task, lease, exc)
            return 0
        async with self._db.transaction() as session:
            await session.execute(delete(StripeTask).where(col(StripeTask.id) == task.id))
        return 1

    async def _retry_later(self, task: StripeTask, lease: datetime, exc: Exception) -> None:
        """Back off, unless the lease ran out and another worker has the task by now."""
        attempts = task.attempts + 1
        backoff = timedelta(seconds=min(2**attempts, MAX_BACKOFF_SECONDS))
        logger.warning(
            "Stripe task failed; retrying in %s",
            backoff,
            extra={"task": str(task.id), "kind": task.kind, "attempts": attempts},
        )
        async with self._db.transaction() as session:
            await session.execute(
                update(StripeTask)
                .where(col(StripeTask.id) == task.id, col(StripeTask.next_attempt_at) == lease)
                .values(
                    attempts=attempts,
                    next_attempt_at=self._clock() + backoff,
                    last_error=(str(exc) or type(exc).__name__)[:500],
                )
            )

    async def _create_task_customer(self, task: StripeTask) -> None:
        async with self._db.transaction(write=False) as session:
            customer = await session.get(Customer, task.customer_id)
        if customer is not None and customer.stripe_customer_id is None:
            outlived_key = self._clock() - task.created_at > KEY_LIFETIME
            await self._create_customer(customer, look_first=outlived_key)

    async def _update_task_customer(self, task: StripeTask) -> None:
        """Sends the profile as it is when the task runs, so that of several updates the
        last one Stripe hears is the stored one."""
        async with self._db.transaction(write=False) as session:
            customer = await session.get(Customer, task.customer_id)
        if customer is None:
            return  # deleted since: its own task tells Stripe
        if customer.stripe_customer_id is None:
            # Its creation task has not stored the Stripe id yet; that task sends the
            # profile it reads, and this one follows once the id is there.
            raise CustomerNotInStripeYet()
        await self._require_gateway().update_customer(
            customer, idempotency_key=f"billing-customer-update-{task.id}"
        )

    async def _create_customer(self, customer: Customer, *, look_first: bool = False) -> str:
        gateway = self._require_gateway()
        found = await gateway.find_customer(customer.id) if look_first else None
        stripe_id = found or await gateway.create_customer(
            customer, idempotency_key=customer_idempotency_key(customer.id)
        )
        async with self._db.transaction() as session:
            await session.execute(
                update(Customer)
                .where(col(Customer.id) == customer.id, col(Customer.stripe_customer_id).is_(None))
                .values(stripe_customer_id=stripe_id)
            )
            stored = await session.scalar(
                select(col(Customer.stripe_customer_id)).where(col(Customer.id) == customer.id)
            )
        # Another attempt may have stored its answer first: the stored one is the customer's.
        return stored or stripe_id

    async def _cancel_subscriptions(self, task: StripeTask) -> None:
        gateway = self._require_gateway()
        if task.stripe_customer_id is None:
            return
        for subscription in await gateway.subscriptions(task.stripe_customer_id):
            if subscription.is_live:
                await gateway.cancel_subscription(
                    subscription.id, idempotency_key=f"billing-cancel-{subscription.id}"
                )

    def _require_gateway(self) -> PaymentGateway:
        assert self._gateway is not None, "the outbox runs only when Stripe is configured"
        return self._gateway
