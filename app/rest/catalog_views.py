"""JSON shapes of catalog changes, tier features and granular usage events."""

from __future__ import annotations

from typing_extensions import TypedDict

from app.catalog.model import FeatureSpec
from app.catalog.service import OverrideView, ServiceCatalog, TierFeature
from app.core.pagination import Page
from app.models import UsageEvent


class CatalogFeatureOut(TypedDict):
    featureKey: str
    kind: str
    window: str | None
    description: str
    values: dict[str, int]


class ServiceCatalogOut(TypedDict):
    serviceName: str
    features: list[CatalogFeatureOut]


class FeatureOverrideOut(TypedDict):
    customerId: str
    serviceName: str
    featureKey: str
    kind: str
    window: str | None
    value: int
    tierName: str
    tierValue: int


class TierFeatureOut(TypedDict):
    serviceName: str
    featureKey: str
    kind: str
    window: str | None
    value: int


class UsageEventOut(TypedDict):
    userId: str | None
    customerId: str | None
    serviceName: str
    featureKey: str
    amount: int
    type: str
    allowed: bool
    timestamp: int
    window: str | None


class UsageEventsOut(TypedDict):
    total: int
    events: list[UsageEventOut]


def catalog_feature(spec: FeatureSpec) -> CatalogFeatureOut:
    return {
        "featureKey": spec.feature_key,
        "kind": spec.kind.value,
        "window": spec.window.value if spec.window else None,
        "description": spec.description,
        "values": dict(spec.values),
    }


def service_catalog(catalog: ServiceCatalog) -> ServiceCatalogOut:
    return {
        "serviceName": catalog.service_name,
        "features": [catalog_feature(spec) for spec in catalog.features],
    }


def feature_override(view: OverrideView) -> FeatureOverrideOut:
    spec = view.feature
    return {
        "customerId": str(view.customer_id),
        "serviceName": spec.service_name,
        "featureKey": spec.feature_key,
        "kind": spec.kind.value,
        "window": spec.window.value if spec.window else None,
        "value": view.value,
        "tierName": view.tier_name,
        "tierValue": view.tier_value,
    }


def tier_feature(item: TierFeature) -> TierFeatureOut:
    return {
        "serviceName": item.service_name,
        "featureKey": item.feature_key,
        "kind": item.kind.value,
        "window": item.window.value if item.window else None,
        "value": item.value,
    }


def usage_event(row: UsageEvent) -> UsageEventOut:
    return {
        "userId": str(row.user_id) if row.user_id else None,
        "customerId": str(row.customer_id) if row.customer_id else None,
        "serviceName": row.service_name,
        "featureKey": row.feature_key,
        "amount": row.amount,
        "type": row.type,
        "allowed": row.allowed,
        "timestamp": int(row.occurred_at.timestamp()),
        "window": row.window,
    }


def usage_events(page: Page[UsageEvent]) -> UsageEventsOut:
    return {"total": page.total_count, "events": [usage_event(row) for row in page.items]}
