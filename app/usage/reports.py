"""What the catalog allows a caller, and how much of it is used (SPEC §5.3, §5.4).

Rate-limit reports touch no database: the caller's customer and tier come from the subject
cache, values from the catalog cache, and usage from the counter storage in one read for
all features, however many there are. Quota usage is read from `quota_counter`, the record
of the resources a customer holds.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.principal import Access, Principal, requires
from app.catalog.cache import CatalogCache
from app.catalog.model import DISABLED, UNLIMITED, FeatureKind, Window, remaining
from app.catalog.store import CatalogEntry
from app.core.clock import Clock
from app.core.errors import CustomerNotFound, FeatureNotFound, NoCustomer, ServiceNotFound
from app.models import QuotaCounter
from app.usage.consume import counter_key
from app.usage.counters import CounterStore
from app.usage.subjects import Subject, SubjectCache
from app.usage.windows import window_bounds


class IdentifierType(StrEnum):
    USER = "user"
    IP = "ip"
    CUSTOMER = "customer"  # billing_admin reading a customer's usage


@dataclass(frozen=True, slots=True)
class Allowance:
    """What one feature allows: the tier's value, or the customer's override."""

    service_name: str
    feature_key: str
    value: int
    window: Window | None
    description: str


@dataclass(frozen=True, slots=True)
class Allowances:
    """The limits or quotas a caller has; no customer for the public tier."""

    customer_id: uuid.UUID | None
    tier_name: str
    items: list[Allowance]


def is_locked(limit: int, used: int) -> bool:
    """Whether one more use than `used` is refused under `limit`."""
    if limit == UNLIMITED:
        return False
    return limit == DISABLED or used >= limit


@dataclass(frozen=True, slots=True)
class FeatureUsage:
    service_name: str
    feature_key: str
    tier_name: str
    window: Window
    description: str
    current_usage: int
    limit: int
    remaining: int
    reset_at: int

    @property
    def is_locked(self) -> bool:
        """True while a consume of this feature would be refused."""
        return is_locked(self.limit, self.current_usage)


@dataclass(frozen=True, slots=True)
class UsageReport:
    identifier: str
    identifier_type: IdentifierType
    fetched_at: int
    features: list[FeatureUsage]


@dataclass(frozen=True, slots=True)
class QuotaUsage:
    service_name: str
    feature_key: str
    current_usage: int
    limit: int
    remaining: int
    description: str

    @property
    def is_locked(self) -> bool:
        """True while an allocation of one more would be refused."""
        return is_locked(self.limit, self.current_usage)

    @property
    def reset_at(self) -> int:
        """Always 0: a quota has no window."""
        return 0


@dataclass(frozen=True, slots=True)
class QuotaUsageReport:
    customer_id: uuid.UUID
    fetched_at: int
    features: list[QuotaUsage]


class ReportService:
    def __init__(
        self,
        clock: Clock,
        catalog: CatalogCache,
        subjects: SubjectCache,
        counters: CounterStore,
    ) -> None:
        self._clock = clock
        self._catalog = catalog
        self._subjects = subjects
        self._counters = counters

    @requires(Access.USER)
    async def limits(
        self,
        principal: Principal,
        *,
        service_name: str | None = None,
        customer_id: uuid.UUID | None = None,
    ) -> Allowances:
        subject = await self._member(principal, customer_id)
        return await self._allowances(subject, FeatureKind.RATE, service_name)

    @requires(Access.USER)
    async def limit(
        self, principal: Principal, *, service_name: str, feature_key: str
    ) -> Allowance:
        subject = await self._member(principal)
        entry = await self._entry(FeatureKind.RATE, service_name, feature_key)
        return await self._allowance(subject, entry)

    @requires(Access.ANYONE)
    async def ip_limits(
        self, principal: Principal, *, service_name: str | None = None
    ) -> Allowances:
        subject = self._subjects.anonymous(principal.client_ip)
        return await self._allowances(subject, FeatureKind.RATE, service_name)

    @requires(Access.USER)
    async def quotas(
        self,
        principal: Principal,
        *,
        service_name: str | None = None,
        customer_id: uuid.UUID | None = None,
    ) -> Allowances:
        subject = await self._member(principal, customer_id)
        return await self._allowances(subject, FeatureKind.QUOTA, service_name)

    @requires(Access.USER)
    async def quota(
        self, principal: Principal, *, service_name: str, feature_key: str
    ) -> Allowance:
        subject = await self._member(principal)
        entry = await self._entry(FeatureKind.QUOTA, service_name, feature_key)
        return await self._allowance(subject, entry)

    @requires(Access.USER)
    async def usage(
        self,
        principal: Principal,
        *,
        service_name: str | None = None,
        customer_id: uuid.UUID | None = None,
    ) -> UsageReport:
        """The member's view of the team's pool (the counters are the customer's), or
        billing_admin's of any customer's."""
        subject = await self._member(principal, customer_id)
        if subject.user_id is None:
            return await self._usage(
                subject, subject.identifier, IdentifierType.CUSTOMER, service_name
            )
        identifier = str(subject.user_id)
        return await self._usage(subject, identifier, IdentifierType.USER, service_name)

    @requires(Access.ANYONE)
    async def ip_usage(
        self, principal: Principal, *, service_name: str | None = None
    ) -> UsageReport:
        subject = self._subjects.anonymous(principal.client_ip)
        return await self._usage(subject, subject.identifier, IdentifierType.IP, service_name)

    @requires(Access.USER)
    async def quota_usage(
        self, session: AsyncSession, principal: Principal, *, customer_id: uuid.UUID | None = None
    ) -> QuotaUsageReport:
        subject = await self._member(principal, customer_id)
        assert subject.customer_id is not None
        entries = await self._entries(FeatureKind.QUOTA, None)
        held = await _quota_counters(session, subject.customer_id)
        features = [
            await self._quota_usage(subject, entry, held.get(entry.id, 0)) for entry in entries
        ]
        return QuotaUsageReport(subject.customer_id, self._now_ts(), features)

    async def _member(self, principal: Principal, customer_id: uuid.UUID | None = None) -> Subject:
        """The caller's customer, as consumes see it (callers with no team get 404); or,
        for billing_admin naming one, any customer. A member naming another customer gets
        404, so other accounts stay invisible."""
        if customer_id is not None and principal.is_billing_admin:
            try:
                return await self._subjects.for_customer(customer_id)
            except LookupError:
                raise CustomerNotFound(param="customer_id") from None
        try:
            subject = await self._subjects.for_user(principal.require_user())
        except LookupError:  # the customer went away after its membership was cached
            raise NoCustomer() from None
        if subject.customer_id is None:
            raise NoCustomer()
        if customer_id is not None and customer_id != subject.customer_id:
            raise CustomerNotFound(param="customer_id")
        return subject

    async def _entries(self, kind: FeatureKind, service_name: str | None) -> list[CatalogEntry]:
        entries = await self._catalog.entries(kind)
        if service_name is not None:
            await self._require_service(service_name)
            entries = [entry for entry in entries if entry.spec.service_name == service_name]
        return sorted(entries, key=lambda entry: entry.spec.key)

    async def _entry(self, kind: FeatureKind, service_name: str, feature_key: str) -> CatalogEntry:
        entry = await self._catalog.require(service_name, feature_key)
        if entry.spec.kind is not kind:
            raise FeatureNotFound(param="feature_key")
        return entry

    async def _require_service(self, service_name: str) -> None:
        if service_name not in await self._catalog.services():
            raise ServiceNotFound(param="service_name")

    async def _allowances(
        self, subject: Subject, kind: FeatureKind, service_name: str | None
    ) -> Allowances:
        entries = await self._entries(kind, service_name)
        items = [await self._allowance(subject, entry) for entry in entries]
        return Allowances(subject.customer_id, subject.tier_name, items)

    async def _allowance(self, subject: Subject, entry: CatalogEntry) -> Allowance:
        spec = entry.spec
        return Allowance(
            spec.service_name,
            spec.feature_key,
            await self._value(subject, entry),
            spec.window,
            spec.description,
        )

    async def _value(self, subject: Subject, entry: CatalogEntry) -> int:
        return await self._catalog.value(entry, subject.tier_name, subject.customer_id)

    async def _usage(
        self,
        subject: Subject,
        identifier: str,
        identifier_type: IdentifierType,
        service_name: str | None,
    ) -> UsageReport:
        now = self._clock()
        entries = await self._entries(FeatureKind.RATE, service_name)
        # Each window's start and end in unix seconds, worked out once for every feature.
        spans = {
            window: tuple(int(bound.timestamp()) for bound in window_bounds(window, now))
            for window in Window
        }
        keys = [_counter_key(subject, entry, spans[_window(entry)][0]) for entry in entries]
        counts = await self._counters.read(keys)
        features = [
            await self._feature_usage(subject, entry, count, spans[_window(entry)][1])
            for entry, count in zip(entries, counts, strict=True)
        ]
        return UsageReport(identifier, identifier_type, int(now.timestamp()), features)

    async def _feature_usage(
        self, subject: Subject, entry: CatalogEntry, count: int, reset_at: int
    ) -> FeatureUsage:
        limit = await self._value(subject, entry)
        return FeatureUsage(
            entry.spec.service_name,
            entry.spec.feature_key,
            subject.tier_name,
            _window(entry),
            entry.spec.description,
            count,
            limit,
            remaining(limit, count),
            reset_at,
        )

    async def _quota_usage(self, subject: Subject, entry: CatalogEntry, used: int) -> QuotaUsage:
        limit = await self._value(subject, entry)
        spec = entry.spec
        return QuotaUsage(
            spec.service_name,
            spec.feature_key,
            used,
            limit,
            remaining(limit, used),
            spec.description,
        )

    def _now_ts(self) -> int:
        return int(self._clock().timestamp())


def _window(entry: CatalogEntry) -> Window:
    """The window consumes count this feature in (the same fallback, so the same key)."""
    return entry.spec.window or Window.MONTH


def _counter_key(subject: Subject, entry: CatalogEntry, window_start: int) -> str:
    spec = entry.spec
    return counter_key(subject.key, spec.service_name, spec.feature_key, window_start)


async def _quota_counters(session: AsyncSession, customer_id: uuid.UUID) -> dict[uuid.UUID, int]:
    rows = await session.execute(
        select(col(QuotaCounter.feature_id), col(QuotaCounter.used)).where(
            col(QuotaCounter.customer_id) == customer_id
        )
    )
    return {feature_id: used for feature_id, used in rows}
