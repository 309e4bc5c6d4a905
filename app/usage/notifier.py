"""Live usage: which customers' counters changed, and the usage alerts that fired, told to
the subscribers of every process that serves.

The decision path only marks a customer as changed (`changed`): one set insertion, no
await, no network. A background task sends the marked customers, and the alerts published
meanwhile, every `FLUSH_SECONDS` in one message, and only when there is something to send:
on process-local counters (`memory://`, one process by construction) straight to this
process's listeners; on Redis, as one PUBLISH that every serving process receives
(`app.usage.fanout`). Each process then wakes its own listeners of those customers.

A usage listener is woken, not handed a value: its subscription reads the usage itself,
once, however many changes happened in between. An alert is handed over as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from app.catalog.model import Window
from app.core.tasks import cancel
from app.models import UsageAlert as StoredAlert

logger = logging.getLogger(__name__)
# How long changes are gathered before they are sent: a subscriber hears of a change within
# about this long, and a process sends at most this many messages a second.
FLUSH_SECONDS = 0.2
# After a failed send, the next waits this long, doubling up to the maximum.
RETRY_SECONDS = (0.5, 10.0)
WARN_EVERY_SECONDS = 60.0
# The longest a stop waits for the background task.
STOP_SECONDS = 5.0
# Alerts kept for a listener that does not keep up, and waiting for a send that fails:
# beyond these the oldest are dropped.
ALERTS_PER_LISTENER = 100
ALERTS_WAITING = 1000


@dataclass(frozen=True, slots=True)
class UsageAlert:
    """A customer's usage of one feature crossed a threshold: what the alerts feature
    publishes (`UsageNotifier.publish_alert`) and the `alerts` subscription streams."""

    customer_id: uuid.UUID
    service_name: str
    feature_key: str
    window: Window | None  # None: a quota, which has no window
    threshold_percent: int
    usage: int
    limit: int
    occurred_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "customerId": str(self.customer_id),
            "serviceName": self.service_name,
            "featureKey": self.feature_key,
            "window": None if self.window is None else self.window.value,
            "thresholdPercent": self.threshold_percent,
            "usage": self.usage,
            "limit": self.limit,
            "occurredAt": self.occurred_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UsageAlert:
        window = data["window"]
        return cls(
            uuid.UUID(data["customerId"]),
            data["serviceName"],
            data["featureKey"],
            None if window is None else Window(window),
            int(data["thresholdPercent"]),
            int(data["usage"]),
            int(data["limit"]),
            datetime.fromisoformat(data["occurredAt"]),
        )


@dataclass(slots=True)
class Batch:
    """What one flush sends: the customers whose counters changed, and the alerts.
    `everyone`: every listener should read again (messages may have been lost)."""

    customers: list[uuid.UUID] = field(default_factory=list)
    alerts: list[UsageAlert] = field(default_factory=list)
    everyone: bool = False


Deliver = Callable[[Batch], None]


class FanOut(Protocol):
    """Carries batches to the listeners of every serving process, this one included."""

    async def start(self, deliver: Deliver) -> None: ...
    async def send(self, batch: Batch) -> None: ...
    async def stop(self) -> None: ...


class LocalFanOut:
    """Process-local counters: every decision is this process's, so are the listeners."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def send(self, batch: Batch) -> None:
        if self._deliver is not None:
            self._deliver(batch)

    async def stop(self) -> None:
        self._deliver = None


class UsageListener:
    """Wakes one subscription when its customer's counters changed."""

    __slots__ = ("_changed", "closed", "customer_id")

    def __init__(self, customer_id: uuid.UUID) -> None:
        self.customer_id = customer_id
        self._changed = asyncio.Event()
        self.closed = False

    def wake(self) -> None:
        self._changed.set()

    def close(self) -> None:
        self.closed = True
        self._changed.set()

    async def changed(self, within: float | None = None) -> bool:
        """Whether the counters changed (or the listener closed) since the last call,
        waiting up to `within` seconds (None: for as long as it takes) for it."""
        if not self._changed.is_set():
            try:
                await asyncio.wait_for(self._changed.wait(), within)
            except TimeoutError:
                return False
        self._changed.clear()
        return True


class AlertListener:
    """The alerts of one customer, for one subscription, in the order they arrived."""

    __slots__ = ("_alerts", "_arrived", "closed", "customer_id")

    def __init__(self, customer_id: uuid.UUID) -> None:
        self.customer_id = customer_id
        self._alerts: deque[UsageAlert] = deque(maxlen=ALERTS_PER_LISTENER)
        self._arrived = asyncio.Event()
        self.closed = False

    def deliver(self, alert: UsageAlert) -> None:
        self._alerts.append(alert)
        self._arrived.set()

    def wake(self) -> None:
        """Nothing to read again: an alert is handed over, never re-read."""

    def close(self) -> None:
        self.closed = True
        self._arrived.set()

    async def next(self) -> UsageAlert | None:
        """The next alert; None once the listener is closed."""
        while not self._alerts:
            if self.closed:
                return None
            await self._arrived.wait()
            self._arrived.clear()
        return None if self.closed else self._alerts.popleft()


Listener = UsageListener | AlertListener


class UsageNotifier:
    def __init__(self, fan_out: FanOut) -> None:
        self._fan_out = fan_out
        self._changed: set[uuid.UUID] = set()
        self._alerts: deque[UsageAlert] = deque(maxlen=ALERTS_WAITING)
        self._due = asyncio.Event()
        self._listeners: dict[uuid.UUID, set[Listener]] = {}
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._warned_at = -math.inf

    # The decision path and the alerts feature: no await, nothing but memory.

    def changed(self, customer_id: uuid.UUID) -> None:
        """The customer's counters changed (a consume was allowed)."""
        if not self._changed:
            self._due.set()
        self._changed.add(customer_id)

    def publish_alert(self, alert: UsageAlert) -> None:
        """Streams `alert` to the `alerts` subscribers of its customer, on every process."""
        self._alerts.append(alert)
        self._due.set()

    async def alert_stored(self, stored: StoredAlert) -> None:
        """An alert the alerts feature stored and committed, published as above."""
        self.publish_alert(
            UsageAlert(
                customer_id=stored.customer_id,
                service_name=stored.service_name,
                feature_key=stored.feature_key,
                window=Window(stored.window) if stored.window else None,
                threshold_percent=stored.percent,
                usage=stored.usage,
                limit=stored.limit,
                occurred_at=stored.occurred_at,
            )
        )

    # Subscriptions.

    def listen_usage(self, customer_id: uuid.UUID) -> UsageListener:
        listener = UsageListener(customer_id)
        self._add(listener)
        return listener

    def listen_alerts(self, customer_id: uuid.UUID) -> AlertListener:
        listener = AlertListener(customer_id)
        self._add(listener)
        return listener

    def _add(self, listener: Listener) -> None:
        if self._closed:
            listener.close()
        self._listeners.setdefault(listener.customer_id, set()).add(listener)

    def forget(self, listener: Listener) -> None:
        listener.close()
        listeners = self._listeners.get(listener.customer_id)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self._listeners[listener.customer_id]

    def _deliver(self, batch: Batch) -> None:
        """A batch from any process, this one's included: wake the listeners it concerns."""
        if batch.everyone:
            for listeners in self._listeners.values():
                for listener in listeners:
                    listener.wake()
        for customer_id in batch.customers:
            for listener in self._listeners.get(customer_id, ()):
                listener.wake()
        for alert in batch.alerts:
            for listener in self._listeners.get(alert.customer_id, ()):
                if isinstance(listener, AlertListener):
                    listener.deliver(alert)

    # The background task.

    async def start(self) -> None:
        self._closed = False
        await self._fan_out.start(self._deliver)
        self._task = asyncio.create_task(self._run(), name="usage-notifier")

    async def stop(self) -> None:
        """Sends what is still waiting, then completes every subscription."""
        self._closed = True
        await cancel(self._task, within=STOP_SECONDS)
        self._task = None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._flush(), FLUSH_SECONDS * 5)
        await self._fan_out.stop()
        for listeners in list(self._listeners.values()):
            for listener in list(listeners):
                listener.close()

    async def _run(self) -> None:
        retry = RETRY_SECONDS[0]
        # Stops on `_closed` too: a send cancelled inside redis-py may end in an error
        # instead of the cancellation.
        while not self._closed:
            await self._due.wait()
            await asyncio.sleep(FLUSH_SECONDS)  # what follows the first change goes along
            try:
                await self._flush()
            except Exception as exc:
                if self._closed:
                    return
                self._warn(exc)
                await asyncio.sleep(retry)
                retry = min(retry * 2, RETRY_SECONDS[1])
            else:
                retry = RETRY_SECONDS[0]

    async def _flush(self) -> None:
        self._due.clear()
        if not self._changed and not self._alerts:
            return
        batch = Batch(list(self._changed), list(self._alerts))
        self._changed.clear()
        self._alerts.clear()
        try:
            await self._fan_out.send(batch)
        except BaseException:
            # Sent again with the next flush, with whatever changed meanwhile.
            self._changed.update(batch.customers)
            self._alerts.extendleft(reversed(batch.alerts))
            self._due.set()
            raise

    def _warn(self, exc: Exception) -> None:
        if time.monotonic() - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = time.monotonic()
            logger.warning("live usage changes could not be sent; retrying", exc_info=exc)
