"""May this caller use this feature now? Consume and check, for metered services (§5.8).

Nothing here touches the database: subjects, tiers, the catalog and overrides come from
in-process caches, counters from the counter storage, and the ledger is written behind.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from pydantic import AliasChoices, Field, field_validator, model_validator

from app.auth.principal import METERED_ROLES, Principal
from app.catalog.cache import CatalogCache
from app.catalog.model import DISABLED, UNLIMITED, FeatureKind, Window, remaining
from app.catalog.store import CatalogEntry
from app.core.clock import Clock
from app.core.errors import (
    CustomerNotFound,
    FeatureDisabled,
    InvalidInput,
    RateLimited,
)
from app.core.inputs import InputModel
from app.usage.counters import CounterStore
from app.usage.headers import rate_limit_headers
from app.usage.idempotency import IdempotencyStore
from app.usage.ledger import Ledger, ledger_row
from app.usage.subjects import Subject, SubjectCache
from app.usage.windows import window_bounds

EXPIRY_SLACK_SECONDS = 60
RATE_LIMIT_EVENT = "rate_limit"


class ConsumeRequest(InputModel):
    service_name: str = Field(min_length=1, max_length=64)
    feature_key: str = Field(min_length=1, max_length=64)
    amount: int = Field(default=1, ge=1, le=1_000_000_000)
    user_id: uuid.UUID | None = Field(
        default=None, validation_alias=AliasChoices("userId", "userID", "user_id")
    )
    customer_id: uuid.UUID | None = Field(
        default=None, validation_alias=AliasChoices("customerId", "customerID", "customer_id")
    )
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


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    current_usage: int
    limit: int
    remaining: int
    reset_at: int
    window: str
    window_seconds: int
    reset_in: int

    def body(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "currentUsage": self.current_usage,
            "limit": self.limit,
            "remaining": self.remaining,
            "resetAt": self.reset_at,
        }

    def headers(self, policy: str) -> dict[str, str]:
        if self.limit == UNLIMITED:
            return {}
        return rate_limit_headers(
            policy,
            limit=self.limit,
            remaining=self.remaining,
            reset_in=self.reset_in,
            window=self.window_seconds,
            refused=not self.allowed,
        )


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


class ConsumeService:
    def __init__(
        self,
        clock: Clock,
        catalog: CatalogCache,
        subjects: SubjectCache,
        counters: CounterStore,
        ledger: Ledger,
    ) -> None:
        self._clock = clock
        self._catalog = catalog
        self._subjects = subjects
        self._counters = counters
        self._idempotency = IdempotencyStore(counters)
        self._ledger = ledger
        self._windows: dict[Window, _Bounds] = {}

    async def consume(self, principal: Principal, *, data: ConsumeRequest) -> Decision:
        principal.require_role(*METERED_ROLES)
        entry, subject = await self._resolve(data)
        if data.idempotency_key is None:
            return _outcome(await self._consume(entry, subject, data.amount))
        key = f"idem:{subject.key}:{entry.spec.service_name}:{entry.spec.feature_key}:" + (
            data.idempotency_key
        )
        answer = await self._idempotency.once(
            key, lambda: self._consume_recorded(entry, subject, data.amount)
        )
        return _outcome(Decision(**answer))

    async def check(self, principal: Principal, *, data: ConsumeRequest) -> Decision:
        principal.require_role(*METERED_ROLES)
        entry, subject = await self._resolve(data)
        return _outcome(await self._decide(entry, subject, data.amount, consume=False))

    async def _consume_recorded(
        self, entry: CatalogEntry, subject: Subject, amount: int
    ) -> dict[str, Any]:
        return asdict(await self._consume(entry, subject, amount))

    async def _consume(self, entry: CatalogEntry, subject: Subject, amount: int) -> Decision:
        return await self._decide(entry, subject, amount, consume=True)

    async def _decide(
        self, entry: CatalogEntry, subject: Subject, amount: int, *, consume: bool
    ) -> Decision:
        now = self._clock()
        window = entry.spec.window or Window.MONTH
        bounds = self._bounds(window, now)
        start, end = bounds.start, bounds.end
        limit = await self._catalog.value(entry, subject.tier_name, subject.customer_id)
        key = counter_key(
            subject.key, entry.spec.service_name, entry.spec.feature_key, bounds.start_ts
        )
        reset_in = max(1, int(-(-(end - now).total_seconds() // 1)))
        if limit == DISABLED:
            current, allowed = (await self._counters.read([key]))[0], False
        elif consume:
            result = await self._counters.consume(
                key, amount, limit, reset_in + EXPIRY_SLACK_SECONDS
            )
            current, allowed = result.count, result.allowed
        else:
            current = (await self._counters.read([key]))[0]
            allowed = limit == UNLIMITED or current + amount <= limit
        if consume:
            self._ledger.record(
                ledger_row(
                    entry,
                    subject.key,
                    subject.customer_id,
                    subject.user_id,
                    type=RATE_LIMIT_EVENT,
                    amount=amount,
                    allowed=allowed,
                    at=now,
                    window=window.value,
                    window_start=start,
                )
            )
        return Decision(
            allowed,
            current,
            limit,
            remaining(limit, current),
            bounds.end_ts,
            window,
            bounds.seconds,
            reset_in,
        )

    def _bounds(self, window: Window, now: datetime) -> _Bounds:
        bounds = self._windows.get(window)
        if bounds is None or not bounds.start <= now < bounds.end:
            bounds = self._windows[window] = _Bounds.of(window, now)
        return bounds

    async def _resolve(self, data: ConsumeRequest) -> tuple[CatalogEntry, Subject]:
        entry = await self._catalog.require(data.service_name, data.feature_key)
        if entry.spec.kind is not FeatureKind.RATE:
            raise InvalidInput(
                "This feature is a quota: allocate and release it instead.", param="featureKey"
            )
        return entry, await self._subject(data)

    async def _subject(self, data: ConsumeRequest) -> Subject:
        if data.customer_id is not None:
            try:
                subject = await self._subjects.for_customer(data.customer_id)
            except LookupError:
                raise CustomerNotFound(param="customerId") from None
            return Subject(subject.key, subject.tier_name, subject.customer_id, data.user_id)
        if data.user_id is not None:
            return await self._subjects.for_user(data.user_id)
        assert data.ip is not None
        return self._subjects.anonymous(data.ip)


def _outcome(decision: Decision) -> Decision:
    """A refusal is an error carrying the decision, for both transports to render."""
    if decision.allowed:
        return decision
    if decision.limit == DISABLED:
        raise FeatureDisabled(**decision.body())
    raise RateLimited(headers=decision.headers("feature"), **decision.body())
