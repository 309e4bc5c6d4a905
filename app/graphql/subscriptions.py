"""Subscriptions: live usage and usage alerts, over WebSocket (`app.graphql.websocket`).

Each resolver checks who may subscribe, takes one of the caller's subscription slots and
opens the service's watch before the first value is sent, so that a refusal is the
subscription's `error` message, with the code the `usage` query would answer. The slot
and the watch are let go of when the subscription ends, however it ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Generic, TypeVar

import strawberry

from app.graphql.context import Info
from app.graphql.domain_types import DomainType, domain_type
from app.graphql.enums import Window
from app.graphql.usage_types import Usage
from app.graphql.websocket import Slot
from app.usage import notifier
from app.usage.live import AlertWatch, UsageWatch

Source = TypeVar("Source")
Shown = TypeVar("Shown")


@domain_type(
    notifier.UsageAlert,
    description="A customer's usage of one feature crossed one of its alert thresholds.",
)
class UsageAlert(DomainType):
    customer_id: strawberry.ID
    window: Window | None = strawberry.field(description="The rate limit's; null for a quota.")
    threshold_percent: int = strawberry.field(description="The threshold crossed, in percent.")
    usage: int = strawberry.field(description="The usage when it was crossed.")
    limit: int = strawberry.field(description="The limit the threshold is a percentage of.")
    occurred_at: datetime


class _Stream(Generic[Source, Shown]):
    """A watch's values as the schema shows them; closing it lets go of the watch and of
    the subscription's slot, whether or not a value was ever asked for."""

    def __init__(
        self,
        watch: UsageWatch | AlertWatch,
        shown: Callable[[Source], Shown],
        slot: Slot,
    ) -> None:
        self._watch = watch
        self._shown = shown
        self._slot = slot

    def __aiter__(self) -> _Stream[Source, Shown]:
        return self

    async def __anext__(self) -> Shown:
        value: Source = await self._watch.__anext__()  # type: ignore[assignment]
        return self._shown(value)

    async def aclose(self) -> None:
        try:
            await self._watch.aclose()
        finally:
            self._slot.release()


async def usage_changed(info: Info, service_name: str | None = None) -> AsyncIterator[Usage]:
    live = info.context.services.live
    principal = await info.context.principal(live.watch_usage)
    slot = info.context.subscription_slot(principal)
    try:
        watch = await live.watch_usage(principal, service_name=service_name)
    except BaseException:
        slot.release()
        raise
    return _Stream(watch, Usage.of, slot)


async def alerts(info: Info) -> AsyncIterator[UsageAlert]:
    live = info.context.services.live
    principal = await info.context.principal(live.watch_alerts)
    slot = info.context.subscription_slot(principal)
    try:
        watch = await live.watch_alerts(principal)
    except BaseException:
        slot.release()
        raise
    return _Stream(watch, UsageAlert.of, slot)


@strawberry.type(
    description="Live updates, over a WebSocket on this endpoint (`graphql-transport-ws`)."
)
class Subscription:
    usage_changed: AsyncIterator[Usage] = strawberry.subscription(
        resolver=usage_changed,
        description="The team's usage of its rate limits: the current usage at once, then "
        "again whenever a consume changes it or a window ends, at most a few times a "
        "second (any member).",
    )
    alerts: AsyncIterator[UsageAlert] = strawberry.subscription(
        resolver=alerts, description="The team's usage alerts as they fire (owner, admin)."
    )
