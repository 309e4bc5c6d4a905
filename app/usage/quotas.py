"""Allocating and releasing quotas, for metered services (SPEC §3.4, §5.8).

A quota counts resources a customer holds, so its counter is a database row, not a
windowed counter: an allocation is one conditional UPDATE that succeeds only while the
quota has room, with its ledger event in the same transaction. A refused allocation
writes nothing in that transaction and goes to the ledger on its own.

Each call runs its own transaction, because an `idempotencyKey` may only keep an answer
whose transaction has committed.

An allocation that crosses one of the customer's alert thresholds stores its alert in the
same transaction: the conditional UPDATE orders allocations, so each sees its own usage
before and after, and exactly one crosses a threshold on the way up. A quota has no
window, so the rule re-arms on the way down: once a release takes the usage below a
threshold, the next allocation that reaches it again alerts again.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from pydantic import Field, model_validator
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.alerts.watch import AlertWatch
from app.auth.principal import Access, Principal, requires
from app.catalog.cache import CatalogCache
from app.catalog.model import DISABLED, UNLIMITED, FeatureKind, remaining
from app.catalog.store import CatalogEntry
from app.core import metrics
from app.core.clock import Clock
from app.core.db import Database, affected_rows, upsert
from app.core.errors import (
    Conflict,
    CustomerNotFound,
    FeatureDisabled,
    InvalidInput,
    NoCustomer,
    QuotaExceeded,
)
from app.core.inputs import InputModel
from app.models import QuotaCounter, UsageEvent
from app.usage.counters import CounterStore
from app.usage.idempotency import IdempotencyStore
from app.usage.ledger import Ledger, UsageEventType, ledger_row
from app.usage.reports import QuotaUsage
from app.usage.subjects import Subject, SubjectCache

QUOTA_EVENT = UsageEventType.QUOTA.value
RELEASE_ATTEMPTS = 5


class QuotaRequest(InputModel):
    amount: int = Field(default=1, ge=1, le=1_000_000_000)
    user_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _holder(self) -> QuotaRequest:
        if self.user_id is None and self.customer_id is None:
            raise ValueError("give the holder: customerId or userId")
        return self


@dataclass(frozen=True, slots=True)
class _Answer:
    """What one call decided, as kept for repeats of its idempotency key."""

    current_usage: int
    limit: int
    refused_with: str | None = None  # the error code of a refusal


@dataclass(frozen=True, slots=True)
class _Holder:
    customer_id: uuid.UUID
    user_id: uuid.UUID | None
    subject: Subject


class _Full(Exception):
    def __init__(self, used: int) -> None:
        self.used = used


class QuotaService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        catalog: CatalogCache,
        subjects: SubjectCache,
        counters: CounterStore,
        ledger: Ledger,
        alerts: AlertWatch,
    ) -> None:
        self._db = db
        self._clock = clock
        self._catalog = catalog
        self._subjects = subjects
        self._idempotency = IdempotencyStore(counters)
        self._ledger = ledger
        self._alerts = alerts

    @requires(Access.METERED)
    async def allocate(
        self, principal: Principal, *, service_name: str, feature_key: str, data: QuotaRequest
    ) -> QuotaUsage:
        entry, holder = await self._resolve(service_name, feature_key, data)
        answer = await self._once(
            "allocate", entry, holder, data, lambda: self._allocate(entry, holder, data.amount)
        )
        return _outcome(entry, answer)

    @requires(Access.METERED)
    async def release(
        self, principal: Principal, *, service_name: str, feature_key: str, data: QuotaRequest
    ) -> QuotaUsage:
        """Frees up to `amount`; a quota never goes below 0."""
        entry, holder = await self._resolve(service_name, feature_key, data)
        answer = await self._once(
            "release", entry, holder, data, lambda: self._release(entry, holder, data.amount)
        )
        return _outcome(entry, answer)

    async def _once(
        self,
        action: str,
        entry: CatalogEntry,
        holder: _Holder,
        data: QuotaRequest,
        decide: Callable[[], Awaitable[_Answer]],
    ) -> _Answer:
        if data.idempotency_key is None:
            return await decide()
        spec = entry.spec
        key = f"idem:{holder.subject.key}:{spec.service_name}:{spec.feature_key}:{action}:"
        stored = await self._idempotency.once(key + data.idempotency_key, lambda: _kept(decide))
        return _Answer(**stored)

    async def _allocate(self, entry: CatalogEntry, holder: _Holder, amount: int) -> _Answer:
        now = self._clock()
        limit = await self._limit(entry, holder)
        if limit == DISABLED:
            self._ledger.record(_event(entry, holder, amount, False, now))
            _count(entry, metrics.DISABLED)
            return _Answer(await self._used(entry, holder), limit, FeatureDisabled.code)
        percents = await self._watched(entry, holder, limit)
        try:
            # Its own transaction: an idempotency key keeps only a committed answer.
            async with self._db.transaction() as session:
                used = await _take(session, entry.id, holder.customer_id, amount, limit)
                session.add(UsageEvent(**_event(entry, holder, amount, True, now)))
                alerts = await self._alerts.allocated(
                    session, holder.customer_id, entry.spec, limit, percents, amount, used, now
                )
        except _Full as full:
            self._ledger.record(_event(entry, holder, amount, False, now))
            _count(entry, metrics.QUOTA_EXCEEDED)
            return _Answer(full.used, limit, QuotaExceeded.code)
        _count(entry, metrics.ALLOWED)
        await self._alerts.announce(alerts)
        return _Answer(used, limit)

    async def _watched(self, entry: CatalogEntry, holder: _Holder, limit: int) -> tuple[int, ...]:
        """The alert thresholds the allocation is watched for (none unless limited)."""
        percents = self._alerts.watched(holder.customer_id, entry.spec.key, limit)
        if percents is None:
            percents = await self._alerts.load(holder.customer_id, entry.spec.key)
        return percents

    async def _release(self, entry: CatalogEntry, holder: _Holder, amount: int) -> _Answer:
        now = self._clock()
        limit = await self._limit(entry, holder)
        # Its own transaction: an idempotency key keeps only a committed answer.
        async with self._db.transaction() as session:
            released = await _give_back(session, entry.id, holder.customer_id, amount)
            used = await _used(session, entry.id, holder.customer_id)
            # A release is recorded as a negative amount: the events of a quota add up.
            session.add(UsageEvent(**_event(entry, holder, -released, True, now)))
        _count(entry, metrics.ALLOWED)
        return _Answer(used or 0, limit)

    async def _limit(self, entry: CatalogEntry, holder: _Holder) -> int:
        return await self._catalog.value(entry, holder.subject.tier_name, holder.customer_id)

    async def _used(self, entry: CatalogEntry, holder: _Holder) -> int:
        async with self._db.transaction(write=False) as session:
            return await _used(session, entry.id, holder.customer_id) or 0

    async def _resolve(
        self, service_name: str, feature_key: str, data: QuotaRequest
    ) -> tuple[CatalogEntry, _Holder]:
        entry = await self._catalog.require(service_name, feature_key)
        if entry.spec.kind is not FeatureKind.QUOTA:
            raise InvalidInput(
                "This feature is a rate limit: consume it instead.", param="feature_key"
            )
        return entry, await self._holder(data)

    async def _holder(self, data: QuotaRequest) -> _Holder:
        """Quotas are the customer's; the user, when given, is who the event names."""
        if data.customer_id is not None:
            try:
                subject = await self._subjects.for_customer(data.customer_id)
            except LookupError:
                raise CustomerNotFound(param="customer_id") from None
        else:
            assert data.user_id is not None
            subject = await self._subjects.for_user(data.user_id)
        if subject.customer_id is None:
            raise NoCustomer("The user belongs to no customer to hold quotas.", param="user_id")
        return _Holder(subject.customer_id, data.user_id, subject)


def _count(entry: CatalogEntry, outcome: str) -> None:
    metrics.decided(entry.spec.service_name, entry.spec.feature_key, outcome)


async def _kept(decide: Callable[[], Awaitable[_Answer]]) -> dict[str, Any]:
    return asdict(await decide())


def _outcome(entry: CatalogEntry, answer: _Answer) -> QuotaUsage:
    """A refusal is an error carrying the usage, for both transports to render."""
    usage = QuotaUsage(
        entry.spec.service_name,
        entry.spec.feature_key,
        answer.current_usage,
        answer.limit,
        remaining(answer.limit, answer.current_usage),
        entry.spec.description,
    )
    if answer.refused_with is None:
        return usage
    details: dict[str, Any] = {
        "allowed": False,
        "currentUsage": usage.current_usage,
        "limit": usage.limit,
        "remaining": usage.remaining,
        "resetAt": usage.reset_at,
    }
    if answer.refused_with == FeatureDisabled.code:
        raise FeatureDisabled(**details)
    raise QuotaExceeded(
        f"The quota of {entry.spec.feature_key} is full ({usage.limit}).", **details
    )


def _event(
    entry: CatalogEntry, holder: _Holder, amount: int, allowed: bool, now: datetime
) -> dict[str, Any]:
    return ledger_row(
        entry,
        holder.subject.key,
        holder.customer_id,
        holder.user_id,
        type=QUOTA_EVENT,
        amount=amount,
        allowed=allowed,
        at=now,
    )


def _counter(feature_id: uuid.UUID, customer_id: uuid.UUID) -> Any:
    return update(QuotaCounter).where(
        col(QuotaCounter.customer_id) == customer_id, col(QuotaCounter.feature_id) == feature_id
    )


async def _used(session: AsyncSession, feature_id: uuid.UUID, customer_id: uuid.UUID) -> int | None:
    return await session.scalar(
        select(QuotaCounter.used).where(
            col(QuotaCounter.customer_id) == customer_id,
            col(QuotaCounter.feature_id) == feature_id,
        )
    )


async def _take(
    session: AsyncSession, feature_id: uuid.UUID, customer_id: uuid.UUID, amount: int, limit: int
) -> int:
    """Adds `amount` in one conditional write, or raises `_Full` with what is held."""
    await session.execute(
        upsert(session, QuotaCounter)
        .values(customer_id=customer_id, feature_id=feature_id, used=0)
        .on_conflict_do_nothing(index_elements=["customer_id", "feature_id"])
    )
    statement = _counter(feature_id, customer_id)
    if limit != UNLIMITED:
        statement = statement.where(col(QuotaCounter.used) + amount <= limit)
    taken = await affected_rows(session, statement.values(used=col(QuotaCounter.used) + amount))
    used = await _used(session, feature_id, customer_id) or 0
    if taken != 1:
        raise _Full(used)
    return used


async def _give_back(
    session: AsyncSession, feature_id: uuid.UUID, customer_id: uuid.UUID, amount: int
) -> int:
    """How much was released: `amount`, or what was held when that was less."""
    counter = _counter(feature_id, customer_id)
    used = col(QuotaCounter.used)
    for _ in range(RELEASE_ATTEMPTS):
        if await affected_rows(session, counter.where(used >= amount).values(used=used - amount)):
            return amount
        held = await _used(session, feature_id, customer_id)
        if held is None:
            return 0
        # Compare-and-set: a concurrent change makes this match nothing, and we look again.
        if held < amount and await affected_rows(
            session, counter.where(used == held).values(used=0)
        ):
            return held
    raise Conflict()
