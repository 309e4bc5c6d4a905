"""Service registration, per-customer overrides and tier features: types and resolvers.

Inputs become the REST bodies (`ServiceRegistration`, `OverrideChange`) under the same
names, so a validation error names the same `param` on both transports.
"""

from __future__ import annotations

from typing import Any

import strawberry

from app.catalog.model import UNLIMITED, FeatureSpec
from app.catalog.service import OverrideChange, OverrideView, ServiceRegistration
from app.catalog.service import ServiceCatalog as ServiceCatalogResult
from app.catalog.service import TierFeature as TierFeatureResult
from app.core.errors import InvalidInput
from app.core.inputs import parse_input, parse_uuid
from app.graphql.arguments import present
from app.graphql.context import Info
from app.graphql.domain_types import DomainType, domain_type
from app.graphql.enums import FeatureKind, Window

VALUE = "-1: unlimited; 0: disabled."


def _unlimited(root: strawberry.Parent[Any]) -> bool:
    return bool(root.value == UNLIMITED)


UNLIMITED_FIELD = "Whether `value` is -1."


def _tier_unlimited(root: strawberry.Parent[Any]) -> bool:
    return bool(root.tier_value == UNLIMITED)


@strawberry.type(description="A tier's value of a feature.")
class TierValue:
    tier_name: str
    value: int = strawberry.field(description=VALUE)
    unlimited: bool = strawberry.field(resolver=_unlimited, description=UNLIMITED_FIELD)


def _tier_values(root: strawberry.Parent[FeatureSpec]) -> list[TierValue]:
    return [TierValue(tier_name=name, value=value) for name, value in root.values.items()]


@domain_type(FeatureSpec, description="A feature of a service's catalog, with its value per tier.")
class CatalogFeature(DomainType):
    window: Window | None = strawberry.field(description="Null for quotas.")
    values: list[TierValue] = strawberry.field(
        resolver=_tier_values,
        description="The tiers that name the feature; on any other it is disabled.",
    )


@strawberry.type(description="A service's features, as registered.")
class ServiceCatalog:
    service_name: str
    features: list[CatalogFeature]

    @classmethod
    def of(cls, catalog: ServiceCatalogResult) -> ServiceCatalog:
        return cls(
            service_name=catalog.service_name,
            features=[CatalogFeature.of(spec) for spec in catalog.features],
        )


@strawberry.type(description="A customer's own value of a feature, in place of its tier's.")
class FeatureOverride:
    customer_id: strawberry.ID
    service_name: str
    feature_key: str
    kind: FeatureKind
    window: Window | None
    value: int = strawberry.field(description=VALUE)
    unlimited: bool = strawberry.field(resolver=_unlimited, description=UNLIMITED_FIELD)
    tier_name: str
    tier_value: int = strawberry.field(description=f"What the customer's tier gives; {VALUE}")
    tier_unlimited: bool = strawberry.field(
        resolver=_tier_unlimited, description="Whether `tierValue` is -1."
    )

    @classmethod
    def of(cls, view: OverrideView) -> FeatureOverride:
        spec = view.feature
        return cls(
            customer_id=strawberry.ID(str(view.customer_id)),
            service_name=spec.service_name,
            feature_key=spec.feature_key,
            kind=spec.kind,
            window=spec.window,
            value=view.value,
            tier_name=view.tier_name,
            tier_value=view.tier_value,
        )


@domain_type(TierFeatureResult, description="What a tier allows of one feature of the catalog.")
class TierFeature(DomainType):
    value: int = strawberry.field(description=VALUE)
    unlimited: bool = strawberry.field(resolver=_unlimited, description=UNLIMITED_FIELD)


@strawberry.input(description="A tier's value of a feature: -1 unlimited, 0 disabled.")
class TierValueInput:
    tier_name: str = strawberry.field(description="A tier's name or display name.")
    value: int


@strawberry.input(description="A feature a service registers.")
class FeatureInput:
    feature_key: str
    kind: FeatureKind
    window: Window | None = strawberry.field(default=None, description="Rate limits only.")
    description: str | None = None
    values: list[TierValueInput] = strawberry.field(
        default_factory=list, description="Tiers left out have the feature disabled."
    )

    def to_wire(self, at: str) -> dict[str, Any]:
        values: dict[str, int] = {}
        for item in self.values:
            if item.tier_name in values:
                param = f"{at}.values.{item.tier_name}"
                raise InvalidInput(
                    "{param}: the tier is named twice.", param=param, within=ServiceRegistration
                )
            values[item.tier_name] = item.value
        return present(
            featureKey=self.feature_key,
            kind=self.kind.value,
            window=self.window.value if self.window else None,
            description=self.description,
            values=values,
        )


async def register_service(
    info: Info, service_name: str, features: list[FeatureInput]
) -> ServiceCatalog:
    ctx = info.context
    principal = await ctx.principal(ctx.services.catalog.register, service_name=service_name)
    wire = [feature.to_wire(f"features.{n}") for n, feature in enumerate(features)]
    data = parse_input(ServiceRegistration, {"features": wire})
    async with ctx.write() as session:
        catalog = await ctx.services.catalog.register(
            session, principal, service_name=service_name, data=data
        )
    return ServiceCatalog.of(catalog)


async def set_feature_override(
    info: Info, customer_id: strawberry.ID, service_name: str, feature_key: str, value: int
) -> FeatureOverride:
    ctx = info.context
    principal = await ctx.principal(ctx.services.catalog.set_override)
    customer = parse_uuid(customer_id, "customer_id")
    data = parse_input(OverrideChange, {"value": value})
    async with ctx.write() as session:
        view = await ctx.services.catalog.set_override(
            session,
            principal,
            customer_id=customer,
            service_name=service_name,
            feature_key=feature_key,
            data=data,
        )
    return FeatureOverride.of(view)


@strawberry.type(description="A customer's override cleared: the feature is back to its tier's.")
class FeatureOverrideRemoval:
    customer_id: strawberry.ID
    service_name: str
    feature_key: str
    removed: bool = strawberry.field(description="False when the customer had none.")


async def clear_feature_override(
    info: Info, customer_id: strawberry.ID, service_name: str, feature_key: str
) -> FeatureOverrideRemoval:
    ctx = info.context
    principal = await ctx.principal(ctx.services.catalog.clear_override)
    customer = parse_uuid(customer_id, "customer_id")
    async with ctx.write() as session:
        removed = await ctx.services.catalog.clear_override(
            session,
            principal,
            customer_id=customer,
            service_name=service_name,
            feature_key=feature_key,
        )
    return FeatureOverrideRemoval(
        customer_id=strawberry.ID(str(customer)),
        service_name=service_name,
        feature_key=feature_key,
        removed=removed,
    )


async def tier_features(root: Any, info: Info) -> list[TierFeature]:
    """The `features` of a `Tier`, from the catalog in memory."""
    features = await info.context.services.catalog.tier_features(root.name)
    return [TierFeature.of(item) for item in features]
