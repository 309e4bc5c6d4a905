"""Usage alerts: the `Alert` and `AlertThresholds` types, the root queries and the
`setAlertThresholds` mutation. `Customer.alerts` and `Customer.alertThresholds` are in
`app.graphql.customer`, with the customer's other nested fields, over the same resolvers
here."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import strawberry

from app.alerts.service import AlertFilter
from app.alerts.thresholds import ThresholdsChange, ThresholdScope, ThresholdSettings
from app.core.inputs import parse_input, parse_uuid
from app.core.pagination import DEFAULT_PAGE_SIZE, PageRequest
from app.graphql.arguments import present
from app.graphql.audit import Since, Until
from app.graphql.context import Info
from app.graphql.enums import AlertKind, Window
from app.graphql.scalars import unix_seconds
from app.graphql.types import Page
from app.models import UsageAlert

CUSTOMER = "Any customer's, for billing_admin; the caller's own when left out."


def _id(value: object) -> strawberry.ID:
    return strawberry.ID(str(value))


@strawberry.type(
    description="A threshold reached: a customer's usage of a rate limit in one window, or of "
    "a quota, came to `percent` of its limit. One per customer, feature, window and threshold."
)
class Alert:
    id: strawberry.ID
    customer_id: strawberry.ID
    kind: AlertKind
    service_name: str
    feature_key: str
    window: Window | None = strawberry.field(description="A rate limit's; null for a quota.")
    window_start: datetime | None = strawberry.field(
        description="When the rate limit's window began; null for a quota."
    )
    percent: int = strawberry.field(description="The threshold reached, a percentage of limit.")
    limit: int
    usage: int = strawberry.field(description="The usage the decision that reached it left.")
    occurred_at: datetime

    @classmethod
    def of(cls, row: UsageAlert) -> Alert:
        return cls(
            id=_id(row.id),
            customer_id=_id(row.customer_id),
            kind=AlertKind(row.kind),
            service_name=row.service_name,
            feature_key=row.feature_key,
            window=Window(row.window) if row.window else None,
            window_start=row.window_start,
            percent=row.percent,
            limit=row.limit,
            usage=row.usage,
            occurred_at=row.occurred_at,
        )


@strawberry.type(description="The percentages of one scope: a feature, a service, or all.")
class AlertThreshold:
    service_name: str | None = strawberry.field(description="Null: every service.")
    feature_key: str | None = strawberry.field(description="Null: every feature of the service.")
    percents: list[int] = strawberry.field(description="Of the limit; empty: alerts off.")

    @classmethod
    def of(cls, scope: ThresholdScope) -> AlertThreshold:
        return cls(
            service_name=scope.service_name,
            feature_key=scope.feature_key,
            percents=list(scope.percents),
        )


@strawberry.type(
    description="A customer's alert thresholds: the scopes set, the most specific winning, "
    "and the default of every limited feature where none is set."
)
class AlertThresholds:
    id: strawberry.ID = strawberry.field(
        description="The customer's id: a customer has one set, which a client cache keeps "
        "under it and `setAlertThresholds` replaces."
    )
    customer_id: strawberry.ID
    default_percents: list[int]
    thresholds: list[AlertThreshold]

    @classmethod
    def of(cls, settings: ThresholdSettings) -> AlertThresholds:
        return cls(
            id=_id(settings.customer_id),
            customer_id=_id(settings.customer_id),
            default_percents=list(settings.default_percents),
            thresholds=[AlertThreshold.of(scope) for scope in settings.scopes],
        )


@strawberry.input(description="The percentages (1-100) of one scope; empty turns it off.")
class AlertThresholdInput:
    service_name: str | None = strawberry.field(default=None, description="Null: every service.")
    feature_key: str | None = strawberry.field(
        default=None, description="Null: every feature of the service."
    )
    percents: list[int]

    def to_wire(self) -> dict[str, Any]:
        return present(
            serviceName=self.service_name, featureKey=self.feature_key, percents=self.percents
        )


# A customer named by an argument (an `ID`, parsed once the caller is admitted, so that
# who they are comes before what they sent), or by the `Customer` a field hangs off.
Named = strawberry.ID | uuid.UUID | None
Kind = Annotated[AlertKind | None, strawberry.argument(description="Of one kind only.")]


def _customer(named: Named) -> uuid.UUID | None:
    if named is None or isinstance(named, uuid.UUID):
        return named
    return parse_uuid(named, "customer_id")


async def alert_thresholds(
    info: Info,
    customer_id: Annotated[strawberry.ID | None, strawberry.argument(description=CUSTOMER)] = None,
) -> AlertThresholds:
    return await thresholds_of(info, customer_id)


async def thresholds_of(info: Info, named: Named) -> AlertThresholds:
    alerts = info.context.services.alerts
    principal = await info.context.principal(alerts.thresholds)
    customer_id = _customer(named)
    async with info.context.read() as session:
        settings = await alerts.thresholds(session, principal, customer_id=customer_id)
    return AlertThresholds.of(settings)


async def alerts(
    info: Info,
    customer_id: Annotated[strawberry.ID | None, strawberry.argument(description=CUSTOMER)] = None,
    kind: Kind = None,
    service_name: str | None = None,
    feature_key: str | None = None,
    since: Since = None,
    until: Until = None,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Page[Alert]:
    return await alerts_of(
        info, customer_id, kind, service_name, feature_key, since, until, page, page_size
    )


async def alerts_of(
    info: Info,
    named: Named,
    kind: AlertKind | None,
    service_name: str | None,
    feature_key: str | None,
    since: datetime | None,
    until: datetime | None,
    page: int,
    page_size: int,
) -> Page[Alert]:
    service = info.context.services.alerts
    principal = await info.context.principal(service.list)
    customer_id = _customer(named)
    request = PageRequest(page, page_size)
    wanted = AlertFilter(
        kind=kind,
        service_name=service_name,
        feature_key=feature_key,
        since=unix_seconds(since) if since is not None else None,
        until=unix_seconds(until) if until is not None else None,
    )
    async with info.context.read() as session:
        rows = await service.list(
            session, principal, wanted=wanted, page=request, customer_id=customer_id
        )
    return Page.of(rows, Alert.of)


async def set_alert_thresholds(
    info: Info,
    thresholds: list[AlertThresholdInput],
    customer_id: Annotated[strawberry.ID | None, strawberry.argument(description=CUSTOMER)] = None,
) -> AlertThresholds:
    ctx = info.context
    principal = await ctx.principal(ctx.services.alerts.set_thresholds)
    customer = _customer(customer_id)
    wire = {"thresholds": [item.to_wire() for item in thresholds]}
    data = parse_input(ThresholdsChange, wire)
    async with ctx.write() as session:
        settings = await ctx.services.alerts.set_thresholds(
            session, principal, data=data, customer_id=customer
        )
    return AlertThresholds.of(settings)
