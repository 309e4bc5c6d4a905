"""The documented JSON shapes of the limits, usage and quota reports (SPEC §5.3, §5.4).

Kept beside `views` rather than in it: the same TypedDict pattern, read by the route table
and the OpenAPI document, in a module of its own size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal, TypeVar

from typing_extensions import TypedDict

from app.usage.reports import (
    Allowance,
    Allowances,
    FeatureUsage,
    QuotaUsage,
    QuotaUsageReport,
    UsageReport,
)

T = TypeVar("T")
R = TypeVar("R")
WindowName = Literal["minute", "hour", "day", "month"]
IdentifierTypeName = Literal["user", "ip", "customer"]


class FeatureLimitOut(TypedDict):
    value: int
    window: WindowName
    description: str


class FeatureQuotaOut(TypedDict):
    value: int
    description: str


class LimitsOut(TypedDict):
    customerId: str
    tierName: str
    limits: dict[str, dict[str, FeatureLimitOut]]


class ServiceLimitsOut(TypedDict):
    customerId: str
    tierName: str
    serviceName: str
    limits: dict[str, FeatureLimitOut]


class IpLimitsOut(TypedDict):
    ipLimits: dict[str, dict[str, FeatureLimitOut]]


class IpServiceLimitsOut(TypedDict):
    limits: dict[str, FeatureLimitOut]


class FeatureUsageOut(TypedDict):
    identifier: str
    identifierType: IdentifierTypeName
    featureKey: str
    tierName: str
    window: WindowName
    description: str
    currentUsage: int
    limit: int
    remaining: int
    resetAt: int
    isLocked: bool


class ServiceUsageOut(TypedDict):
    serviceName: str
    features: list[FeatureUsageOut]


class UsageOut(TypedDict):
    identifier: str
    identifierType: IdentifierTypeName
    totalFeatures: int
    fetchedAt: int
    services: dict[str, ServiceUsageOut]


class QuotasOut(TypedDict):
    customerId: str
    tierName: str
    quotas: dict[str, dict[str, FeatureQuotaOut]]


class ServiceQuotasOut(TypedDict):
    customerId: str
    tierName: str
    serviceName: str
    quotas: dict[str, FeatureQuotaOut]


class QuotaFeatureUsageOut(TypedDict):
    featureKey: str
    currentUsage: int
    limit: int
    remaining: int
    resetAt: int


class ServiceQuotaUsageOut(TypedDict):
    serviceName: str
    features: list[QuotaFeatureUsageOut]


class QuotaUsageOut(TypedDict):
    customerId: str
    totalFeatures: int
    fetchedAt: int
    services: dict[str, ServiceQuotaUsageOut]


def feature_limit(item: Allowance) -> FeatureLimitOut:
    assert item.window is not None  # rate limits always have one
    return {
        "value": item.value,
        "window": item.window.value,
        "description": item.description,
    }


def feature_quota(item: Allowance) -> FeatureQuotaOut:
    return {"value": item.value, "description": item.description}


def limits(report: Allowances) -> LimitsOut:
    return {
        "customerId": str(report.customer_id),
        "tierName": report.tier_name,
        "limits": _by_service(report.items, feature_limit),
    }


def service_limits(report: Allowances, service_name: str) -> ServiceLimitsOut:
    return {
        "customerId": str(report.customer_id),
        "tierName": report.tier_name,
        "serviceName": service_name,
        "limits": _by_feature(report.items, feature_limit),
    }


def ip_limits(report: Allowances) -> IpLimitsOut:
    return {"ipLimits": _by_service(report.items, feature_limit)}


def ip_service_limits(report: Allowances) -> IpServiceLimitsOut:
    return {"limits": _by_feature(report.items, feature_limit)}


def quotas(report: Allowances) -> QuotasOut:
    return {
        "customerId": str(report.customer_id),
        "tierName": report.tier_name,
        "quotas": _by_service(report.items, feature_quota),
    }


def service_quotas(report: Allowances, service_name: str) -> ServiceQuotasOut:
    return {
        "customerId": str(report.customer_id),
        "tierName": report.tier_name,
        "serviceName": service_name,
        "quotas": _by_feature(report.items, feature_quota),
    }


def usage(report: UsageReport) -> UsageOut:
    groups = _groups(report.features, lambda item: item.service_name)
    return {
        "identifier": report.identifier,
        "identifierType": report.identifier_type.value,
        "totalFeatures": len(report.features),
        "fetchedAt": report.fetched_at,
        "services": {
            name: {
                "serviceName": name,
                "features": [feature_usage(report, item) for item in items],
            }
            for name, items in groups.items()
        },
    }


def feature_usage(report: UsageReport, item: FeatureUsage) -> FeatureUsageOut:
    return {
        "identifier": report.identifier,
        "identifierType": report.identifier_type.value,
        "featureKey": item.feature_key,
        "tierName": item.tier_name,
        "window": item.window.value,
        "description": item.description,
        "currentUsage": item.current_usage,
        "limit": item.limit,
        "remaining": item.remaining,
        "resetAt": item.reset_at,
        "isLocked": item.is_locked,
    }


def quota_usage(report: QuotaUsageReport) -> QuotaUsageOut:
    groups = _groups(report.features, lambda item: item.service_name)
    return {
        "customerId": str(report.customer_id),
        "totalFeatures": len(report.features),
        "fetchedAt": report.fetched_at,
        "services": {
            name: {"serviceName": name, "features": [quota_feature_usage(i) for i in items]}
            for name, items in groups.items()
        },
    }


def quota_feature_usage(item: QuotaUsage) -> QuotaFeatureUsageOut:
    return {
        "featureKey": item.feature_key,
        "currentUsage": item.current_usage,
        "limit": item.limit,
        "remaining": item.remaining,
        "resetAt": item.reset_at,
    }


def _groups(items: Iterable[T], service_of: Callable[[T], str]) -> dict[str, list[T]]:
    grouped: dict[str, list[T]] = {}
    for item in items:
        grouped.setdefault(service_of(item), []).append(item)
    return grouped


def _by_service(
    items: Iterable[Allowance], render: Callable[[Allowance], R]
) -> dict[str, dict[str, R]]:
    groups = _groups(items, lambda item: item.service_name)
    return {name: _by_feature(group, render) for name, group in groups.items()}


def _by_feature(items: Iterable[Allowance], render: Callable[[Allowance], R]) -> dict[str, R]:
    return {item.feature_key: render(item) for item in items}
