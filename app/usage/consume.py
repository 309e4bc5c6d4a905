"""May this caller use this feature now? Consume and check, for metered services (§5.8).

Nothing here touches the database: subjects, tiers, the catalog, overrides and alert
thresholds come from in-process caches, counters from the counter storage, and the ledger
and the alerts a decision reaches are written behind.
A decision is data, allowed or refused; the transports render it and answer a refused one
with the error it is (`app.http.decisions`).
"""

from __future__ import annotations

import ipaddress
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from pydantic import (
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from app.alerts.thresholds import crossed
from app.alerts.watch import NOT_WATCHED, AlertWatch, Reached
from app.auth.principal import Access, Principal, requires
from app.catalog.cache import CatalogCache
from app.catalog.model import DISABLED, UNLIMITED, FeatureKind, Window, remaining
from app.catalog.store import CatalogEntry
from app.core import metrics
from app.core.clock import Clock
from app.core.errors import AppError, CustomerNotFound, InvalidInput
from app.core.inputs import InputModel, parse_input
from app.usage.counters import Charge, CounterStore
from app.usage.idempotency import IdempotencyStore
from app.usage.ledger import Ledger, Row, UsageEventType, ledger_row
from app.usage.subjects import Subject, SubjectCache
from app.usage.windows import window_bounds

EXPIRY_SLACK_SECONDS = 60
RATE_LIMIT_EVENT = UsageEventType.RATE_LIMIT.value
MAX_BATCH = 1000  # requests in one batch (SPEC §5.8)


class ConsumeRequest(InputModel):
    service_name: str = Field(min_length=1, max_length=64)
    feature_key: str = Field(min_length=1, max_length=64)
    amount: int = Field(default=1, ge=1, le=1_000_000_000)
    user_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    ip: str | None = None
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("ip")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.ip_address(value)
        return value

    @model_validator(mode="after")
    def _someone(self) -> ConsumeRequest:
        if self.user_id is None and self.customer_id is None and self.ip is None:
            raise ValueError("give the caller: userId, customerId or ip")
        return self


# Made for every request: not frozen, which would cost more to build than the rest of it.
@dataclass(slots=True)
class Decision:
    allowed: bool
    current_usage: int
    limit: int
    remaining: int
    reset_at: int
    window: str
    window_seconds: int
    reset_in: int


class ConsumeBatch(InputModel):
    """The envelope of a batch; each request in it is read on its own (`ConsumeRequest`),
    so that one malformed request is that request's error, not the batch's."""

    requests: list[Any] = Field(min_length=1, max_length=MAX_BATCH)


# What each request of a batch came to: its decision (allowed or refused), or the error
# it is (invalid, outside the caller's scope, unknown feature or customer).
Outcome = Decision | AppError


_BATCH_REQUESTS = TypeAdapter(list[ConsumeRequest])


def _requests(raw: list[Any]) -> list[ConsumeRequest | AppError]:
    """A batch's requests, read in one validation when all are valid; otherwise each on
    its own, so that an invalid one is that request's error."""
    try:
        return list(_BATCH_REQUESTS.validate_python(raw))
    except ValidationError:
        return [_request(item) for item in raw]


def _request(raw: Any) -> ConsumeRequest | AppError:
    try:
        return parse_input(ConsumeRequest, raw)
    except AppError as error:
        return error


def counter_key(subject_key: str, service_name: str, feature_key: str, window_start: int) -> str:
    return f"rl:{subject_key}:{service_name}:{feature_key}:{window_start}"


@dataclass(frozen=True, slots=True)
class _Bounds:
    """A window's bounds, worked out once for every decision that falls in it."""

    start: datetime
    end: datetime
    start_ts: int
    end_ts: int
    seconds: int

    @classmethod
    def of(cls, window: Window, now: datetime) -> _Bounds:
        start, end = window_bounds(window, now)
        seconds = int((end - start).total_seconds())
        return cls(start, end, int(start.timestamp()), int(end.timestamp()), seconds)


@dataclass(slots=True)
class _Plan:
    """One decision to make: which counter, against which limit, recorded how."""

    entry: CatalogEntry
    subject: Subject
    amount: int
    window: Window
    bounds: _Bounds
    limit: int
    key: str
    reset_in: int
    percents: tuple[int, ...]  # the alert thresholds it is watched for

    def of_amount(self, amount: int) -> _Plan:
        return _Plan(
            self.entry,
            self.subject,
            amount,
            self.window,
            self.bounds,
            self.limit,
            self.key,
            self.reset_in,
            self.percents,
        )

    def charge(self) -> Charge:
        # A disabled feature counts nothing: a limit of 0 refuses any amount and still
        # answers the counter, in the same atomic call as the others.
        limit = 0 if self.limit == DISABLED else self.limit
        return Charge(self.key, self.amount, limit, self.reset_in + EXPIRY_SLACK_SECONDS)

    def decision(self, allowed: bool, current: int) -> Decision:
        return Decision(
            allowed,
            current,
            self.limit,
            remaining(self.limit, current),
            self.bounds.end_ts,
            self.window,
            self.bounds.seconds,
            self.reset_in,
        )

    def count(self, allowed: bool) -> None:
        """The decision, in the metrics."""
        spec = self.entry.spec
        metrics.decided(spec.service_name, spec.feature_key, _outcome(allowed, self.limit))

    def watch(self, alerts: AlertWatch, usage: int, at: datetime) -> None:
        """An allowed decision of a watched plan: the thresholds it crossed, if any, to
        the alerts (no await)."""
        crossings = crossed(self.percents, self.limit, usage - self.amount, usage)
        if crossings:
            customer_id = self.subject.customer_id
            assert customer_id is not None  # only a customer's decisions are watched
            window, start = self.window, self.bounds.start
            reached = Reached(customer_id, self.entry.spec, self.limit, usage, at, window, start)
            alerts.used(crossings, reached)

    def row(self, allowed: bool, at: datetime) -> Row:
        subject = self.subject
        return ledger_row(
            self.entry,
            subject.key,
            subject.customer_id,
            subject.user_id,
            type=RATE_LIMIT_EVENT,
            amount=self.amount,
            allowed=allowed,
            at=at,
            window=self.window.value,
            window_start=self.bounds.start,
        )


def _unwatched(_customer_id: uuid.UUID) -> None:
    """Nobody to tell of changes."""


def _outcome(allowed: bool, limit: int) -> str:
    if allowed:
        return metrics.ALLOWED
    return metrics.DISABLED if limit == DISABLED else metrics.RATE_LIMITED


class ConsumeService:
    def __init__(
        self,
        clock: Clock,
        catalog: CatalogCache,
        subjects: SubjectCache,
        counters: CounterStore,
        ledger: Ledger,
        alerts: AlertWatch,
        changed: Callable[[uuid.UUID], None] | None = None,
    ) -> None:
        """`changed`: told of each customer whose counters an allowed decision moved, for
        live usage (`UsageNotifier.changed`); it must not wait for anything."""
        self._clock = clock
        self._catalog = catalog
        self._subjects = subjects
        self._counters = counters
        self._idempotency = IdempotencyStore(counters)
        self._ledger = ledger
        self._alerts = alerts
        self._changed = changed or _unwatched
        self._windows: dict[Window, _Bounds] = {}

    @requires(Access.METERED)
    async def consume(self, principal: Principal, *, data: ConsumeRequest) -> Decision:
        principal.require_metering(data.service_name)
        entry, subject = await self._resolve(data)
        if self._ledger.behind:
            await self._ledger.admit()
        if data.idempotency_key is None:
            return await self._consume(entry, subject, data.amount)
        return await self._once(entry, subject, data)

    @requires(Access.METERED)
    async def check(self, principal: Principal, *, data: ConsumeRequest) -> Decision:
        principal.require_metering(data.service_name)
        entry, subject = await self._resolve(data)
        limit = await self._catalog.value(entry, subject.tier_name, subject.customer_id)
        plan = self._plan(entry, subject, data.amount, limit, self._clock(), NOT_WATCHED)
        current = (await self._counters.read([plan.key]))[0]
        limit = plan.limit
        allowed = limit == UNLIMITED or (limit != DISABLED and current + plan.amount <= limit)
        return plan.decision(allowed, current)

    @requires(Access.METERED)
    async def consume_batch(self, principal: Principal, *, data: ConsumeBatch) -> list[Outcome]:
        """Each request decided on its own and atomically, in order, as of the batch's
        arrival (its windows are the ones then current), with one round trip to the
        counters for each run of requests without an idempotency key and one ledger
        append for each run. What requests share (the caller's scope, the feature, the
        subject, the limit) is worked out once per batch. A request that fails, alone or
        with its run (the counters away), is that error in its place."""
        if self._ledger.behind:
            await self._ledger.admit()
        metrics.BATCH_SIZE.observe(len(data.requests))
        now = self._clock()
        outcomes: list[Outcome | None] = [None] * len(data.requests)
        run: dict[int, _Plan] = {}
        plans: dict[tuple[object, ...], _Plan | AppError] = {}
        for index, item in enumerate(_requests(data.requests)):
            if isinstance(item, AppError):
                outcomes[index] = item
                continue
            key = (item.service_name, item.feature_key, item.customer_id, item.user_id, item.ip)
            plan = plans.get(key)
            if plan is None:
                plan = plans[key] = await self._batch_plan(principal, item, now)
            if isinstance(plan, AppError):
                outcomes[index] = plan
            elif item.idempotency_key is None:
                run[index] = plan.of_amount(item.amount)
            else:
                await self._decide_run(run, now, outcomes)
                run = {}
                outcomes[index] = await self._decided_once(plan, item)
        await self._decide_run(run, now, outcomes)
        return [outcome for outcome in outcomes if outcome is not None]

    async def _decided_once(self, plan: _Plan, item: ConsumeRequest) -> Outcome:
        """A batch's request with an idempotency key; its failure is its own outcome."""
        try:
            return await self._once(plan.entry, plan.subject, item)
        except AppError as error:
            return error

    async def _batch_plan(
        self, principal: Principal, item: ConsumeRequest, now: datetime
    ) -> _Plan | AppError:
        """The plan of the batch's requests like `item` (its amount aside), or the error
        they all are."""
        try:
            principal.require_metering(item.service_name)
            entry, subject = await self._resolve(item)
            limit = await self._catalog.value(entry, subject.tier_name, subject.customer_id)
            percents = self._alerts.watched(subject.customer_id, entry.spec.key, limit)
            if percents is None:
                percents = await self._load_watched(entry, subject)
        except AppError as error:
            return error
        return self._plan(entry, subject, item.amount, limit, now, percents)

    async def _decide_run(
        self, run: dict[int, _Plan], now: datetime, outcomes: list[Outcome | None]
    ) -> None:
        if not run:
            return
        started = time.time()
        try:
            results = await self._counters.consume_many([p.charge() for p in run.values()])
        except AppError as error:  # nothing counted: each of the run's requests is refused
            for index in run:
                outcomes[index] = error
            return
        rows: list[Row] = []
        changed = self._changed
        for (index, plan), result in zip(run.items(), results, strict=True):
            outcomes[index] = plan.decision(result.allowed, result.count)
            rows.append(plan.row(result.allowed, now))
            plan.count(result.allowed)
            if plan.percents and result.allowed:
                plan.watch(self._alerts, result.count, now)
            if result.allowed and plan.subject.customer_id is not None:
                changed(plan.subject.customer_id)
        self._ledger.record_many(rows, started)  # as `_consume` records its row

    async def _once(self, entry: CatalogEntry, subject: Subject, data: ConsumeRequest) -> Decision:
        """The first decision made under the request's idempotency key."""
        spec = entry.spec
        key = f"idem:{subject.key}:{spec.service_name}:{spec.feature_key}:{data.idempotency_key}"
        answer = await self._idempotency.once(
            key, lambda: self._consume_recorded(entry, subject, data.amount)
        )
        return Decision(**answer)

    async def _consume_recorded(
        self, entry: CatalogEntry, subject: Subject, amount: int
    ) -> dict[str, Any]:
        return asdict(await self._consume(entry, subject, amount))

    async def _consume(self, entry: CatalogEntry, subject: Subject, amount: int) -> Decision:
        limit = await self._catalog.value(entry, subject.tier_name, subject.customer_id)
        # Read before the decision, so that none of its alerts waits for the database.
        percents = self._alerts.watched(subject.customer_id, entry.spec.key, limit)
        if percents is None:
            percents = await self._load_watched(entry, subject)
        now = self._clock()
        plan = self._plan(entry, subject, amount, limit, now, percents)
        charge = plan.charge()
        started = time.time()
        result = await self._counters.consume(charge.key, amount, charge.limit, charge.expiry)
        # No await between the counters' answer and the row, which counts as unwritten
        # since the decision began: a rebuild after a loss of the counters sees this
        # decision either waiting for the counters (`oldest_call`) or in the ledger.
        self._ledger.record(plan.row(result.allowed, now), started)
        plan.count(result.allowed)
        if percents and result.allowed:  # a refusal moves no counter: it crosses nothing
            plan.watch(self._alerts, result.count, now)
        if result.allowed and subject.customer_id is not None:
            self._changed(subject.customer_id)
        return plan.decision(result.allowed, result.count)

    async def _load_watched(self, entry: CatalogEntry, subject: Subject) -> tuple[int, ...]:
        """The customer's thresholds of the feature, loaded on its first decision."""
        assert subject.customer_id is not None
        return await self._alerts.load(subject.customer_id, entry.spec.key)

    def _plan(
        self,
        entry: CatalogEntry,
        subject: Subject,
        amount: int,
        limit: int,
        now: datetime,
        percents: tuple[int, ...],
    ) -> _Plan:
        window = entry.spec.window or Window.MONTH
        bounds = self._bounds(window, now)
        key = counter_key(
            subject.key, entry.spec.service_name, entry.spec.feature_key, bounds.start_ts
        )
        reset_in = max(1, math.ceil(bounds.end_ts - now.timestamp()))
        return _Plan(entry, subject, amount, window, bounds, limit, key, reset_in, percents)

    def _bounds(self, window: Window, now: datetime) -> _Bounds:
        bounds = self._windows.get(window)
        if bounds is None or not bounds.start <= now < bounds.end:
            bounds = self._windows[window] = _Bounds.of(window, now)
        return bounds

    async def _resolve(self, data: ConsumeRequest) -> tuple[CatalogEntry, Subject]:
        entry = await self._catalog.require(data.service_name, data.feature_key)
        if entry.spec.kind is not FeatureKind.RATE:
            raise InvalidInput(
                "This feature is a quota: allocate and release it instead.", param="feature_key"
            )
        return entry, await self._subject(data)

    async def _subject(self, data: ConsumeRequest) -> Subject:
        if data.customer_id is not None:
            try:
                subject = await self._subjects.for_customer(data.customer_id)
            except LookupError:
                raise CustomerNotFound(param="customer_id") from None
            if data.user_id is None:
                return subject
            return Subject(subject.key, subject.tier_name, subject.customer_id, data.user_id)
        if data.user_id is not None:
            return await self._subjects.for_user(data.user_id)
        assert data.ip is not None
        return self._subjects.anonymous(data.ip)
