"""JSON shapes of usage alerts and their thresholds."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from typing_extensions import TypedDict

from app.alerts.thresholds import ThresholdScope, ThresholdSettings
from app.core.clock import iso_z
from app.core.pagination import Page
from app.models import UsageAlert
from app.rest.views import PaginationOut, pagination


class AlertThresholdOut(TypedDict):
    serviceName: Annotated[str | None, Field(description="null: every service")]
    featureKey: Annotated[str | None, Field(description="null: every feature of the service")]
    percents: Annotated[list[int], Field(description="Of the limit; empty: alerts off")]


class AlertThresholdsOut(TypedDict):
    customerId: str
    defaultPercents: Annotated[
        list[int], Field(description="Where no scope is set: every limited feature")
    ]
    thresholds: list[AlertThresholdOut]


class AlertOut(TypedDict):
    id: str
    customerId: str
    kind: Annotated[str, Field(description="usage (a rate limit) or quota")]
    serviceName: str
    featureKey: str
    window: Annotated[str | None, Field(description="A rate limit's window; null for a quota")]
    windowStart: Annotated[str | None, Field(description="When the window began")]
    percent: Annotated[int, Field(description="The threshold reached, a percentage of limit")]
    limit: int
    usage: Annotated[int, Field(description="The usage the crossing decision left")]
    occurredAt: str


class AlertsPageOut(TypedDict):
    alerts: list[AlertOut]
    pagination: PaginationOut
    items: int
    pages: int


def _threshold(scope: ThresholdScope) -> AlertThresholdOut:
    return {
        "serviceName": scope.service_name,
        "featureKey": scope.feature_key,
        "percents": list(scope.percents),
    }


def alert_thresholds(settings: ThresholdSettings) -> AlertThresholdsOut:
    return {
        "customerId": str(settings.customer_id),
        "defaultPercents": list(settings.default_percents),
        "thresholds": [_threshold(scope) for scope in settings.scopes],
    }


def alert(row: UsageAlert) -> AlertOut:
    return {
        "id": str(row.id),
        "customerId": str(row.customer_id),
        "kind": row.kind,
        "serviceName": row.service_name,
        "featureKey": row.feature_key,
        "window": row.window,
        "windowStart": iso_z(row.window_start),
        "percent": row.percent,
        "limit": row.limit,
        "usage": row.usage,
        "occurredAt": iso_z(row.occurred_at) or "",
    }


def alerts_page(page: Page[UsageAlert]) -> AlertsPageOut:
    return {
        "alerts": [alert(row) for row in page.items],
        "pagination": pagination(page),
        "items": page.total_count,
        "pages": page.total_pages,
    }
