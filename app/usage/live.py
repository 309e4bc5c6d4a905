"""Live usage for subscribers: the team's usage at once, then again after each change of
its counters, and its usage alerts as they fire.

Who may watch is who may read: the team's usage is any member's (callers with no team get
404 `NO_CUSTOMER`), its alerts the owner's and admins'. Both are checked again as the
watch goes on: each new usage is read as the `usage` query reads it, and each alert is
handed over only while the caller's seat still allows it.

A watch is an async iterator whose `aclose` lets go of its listener, whether or not it was
ever iterated.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from app.auth.principal import Access, Principal, requires
from app.auth.roles import TeamAction
from app.auth.seats import current_seat
from app.core.clock import Clock
from app.core.db import Database
from app.core.errors import CountersUnavailable, NoCustomer
from app.usage.notifier import AlertListener, UsageAlert, UsageListener, UsageNotifier
from app.usage.reports import FeatureUsage, ReportService, UsageReport
from app.usage.subjects import SubjectCache

# Coalescing: one subscription is sent at most one value in this long, however often its
# customer's counters change.
MIN_INTERVAL_SECONDS = 0.25
# A read that found the counters away is tried again after this long.
RETRY_SECONDS = 1.0
LEFT_THE_TEAM = "You no longer belong to the customer this subscription watched."


class UsageWatch:
    """The customer's usage: the current one first, then each that differs from the last
    one sent, read when the counters changed or a window ended."""

    def __init__(
        self,
        first: UsageReport,
        read: Callable[[], Awaitable[UsageReport]],
        still_watching: Callable[[], Awaitable[None]],
        listener: UsageListener,
        notifier: UsageNotifier,
        clock: Clock,
    ) -> None:
        self._first: UsageReport | None = first
        self._read = read
        self._still_watching = still_watching
        self._listener = listener
        self._notifier = notifier
        self._clock = clock
        self._shown: list[FeatureUsage] = first.features
        self._sent_at = -float("inf")

    def __aiter__(self) -> UsageWatch:
        return self

    async def __anext__(self) -> UsageReport:
        if self._first is not None:
            report, self._first = self._first, None
            return self._sent(report)
        while True:
            await asyncio.sleep(max(0.0, self._sent_at + MIN_INTERVAL_SECONDS - time.monotonic()))
            await self._listener.changed(self._until_a_window_ends())
            if self._listener.closed:
                raise StopAsyncIteration
            await self._still_watching()
            try:
                report = await self._read()
            except CountersUnavailable:
                await asyncio.sleep(RETRY_SECONDS)
                self._listener.wake()
                continue
            if report.features != self._shown:
                return self._sent(report)

    def _sent(self, report: UsageReport) -> UsageReport:
        self._shown = report.features
        self._sent_at = time.monotonic()
        return report

    def _until_a_window_ends(self) -> float | None:
        """Seconds until the first of the shown windows ends, when its count falls to 0."""
        resets = [feature.reset_at for feature in self._shown if feature.reset_at]
        if not resets:
            return None
        return max(MIN_INTERVAL_SECONDS, min(resets) - self._clock().timestamp())

    async def aclose(self) -> None:
        self._notifier.forget(self._listener)


class AlertWatch:
    """The customer's usage alerts, each as it fires."""

    def __init__(
        self,
        allowed: Callable[[], Awaitable[None]],
        listener: AlertListener,
        notifier: UsageNotifier,
    ) -> None:
        self._allowed = allowed
        self._listener = listener
        self._notifier = notifier

    def __aiter__(self) -> AlertWatch:
        return self

    async def __anext__(self) -> UsageAlert:
        alert = await self._listener.next()
        if alert is None:
            raise StopAsyncIteration
        await self._allowed()
        return alert

    async def aclose(self) -> None:
        self._notifier.forget(self._listener)


class LiveUsageService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        reports: ReportService,
        subjects: SubjectCache,
        notifier: UsageNotifier,
    ) -> None:
        self._db = db
        self._clock = clock
        self._reports = reports
        self._subjects = subjects
        self._notifier = notifier

    @requires(Access.USER)
    async def watch_usage(
        self, principal: Principal, *, service_name: str | None = None
    ) -> UsageWatch:
        """Close the watch (`aclose`) when done with it."""
        customer_id = await self._customer_of(principal)
        # Listening before the first read: a change made while it reads is not missed.
        listener = self._notifier.listen_usage(customer_id)
        try:
            first = await self._reports.usage(principal, service_name=service_name)
        except BaseException:
            self._notifier.forget(listener)
            raise

        async def read() -> UsageReport:
            return await self._reports.usage(principal, service_name=service_name)

        async def still_watching() -> None:
            if await self._customer_of(principal) != customer_id:
                raise NoCustomer(LEFT_THE_TEAM)

        return UsageWatch(first, read, still_watching, listener, self._notifier, self._clock)

    @requires(Access.USER, team=TeamAction.READ_ALERTS)
    async def watch_alerts(self, principal: Principal) -> AlertWatch:
        """Close the watch (`aclose`) when done with it."""
        customer_id = await self._seat_allowing_alerts(principal)
        listener = self._notifier.listen_alerts(customer_id)

        async def allowed() -> None:
            if await self._seat_allowing_alerts(principal) != customer_id:
                raise NoCustomer(LEFT_THE_TEAM)

        return AlertWatch(allowed, listener, self._notifier)

    async def _customer_of(self, principal: Principal) -> uuid.UUID:
        try:
            subject = await self._subjects.for_user(principal.require_user())
        except LookupError:  # the customer went away after its membership was cached
            raise NoCustomer() from None
        if subject.customer_id is None:
            raise NoCustomer()
        return subject.customer_id

    async def _seat_allowing_alerts(self, principal: Principal) -> uuid.UUID:
        async with self._db.transaction(write=False) as session:
            seat = await current_seat(session, principal, TeamAction.READ_ALERTS)
        return seat.customer.id
