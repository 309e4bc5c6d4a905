"""Changing the catalog: services registering their features, and per-customer overrides.

Registration follows the catalog file's rules (`app.catalog.loader`), so a feature a
service registers could equally have been shipped in the file. Every change is written in
one transaction with its cache invalidation, so each process drops what it held, and
audited: registrations on the platform chain, overrides on their customer's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydantic import Field, StrictInt
from sqlalchemy import and_, delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.auth.principal import Access, Principal, requires
from app.catalog.cache import CatalogCache
from app.catalog.loader import feature_problems, value_problem
from app.catalog.model import FeatureKind, FeatureSpec, Window
from app.catalog.store import load_catalog
from app.core import audit, invalidation
from app.core.db import affected_rows, upsert
from app.core.errors import FeatureNotFound, InvalidInput, ServiceNotFound
from app.core.inputs import InputModel
from app.core.invalidation import invalidate
from app.customers.repository import customer_by_id
from app.models import Customer, Feature, FeatureOverride, FeatureValue, Tier
from app.tiers.service import normalise_tier_name


class FeatureRegistration(InputModel):
    feature_key: str = Field(min_length=1, max_length=64)
    kind: str = Field(min_length=1, max_length=8)
    window: str | None = Field(default=None, max_length=8)
    description: str = Field(default="", max_length=512)
    values: dict[str, StrictInt] = Field(default_factory=dict, max_length=64)


class ServiceRegistration(InputModel):
    features: list[FeatureRegistration] = Field(min_length=1, max_length=500)


class OverrideChange(InputModel):
    value: StrictInt


@dataclass(frozen=True, slots=True)
class ServiceCatalog:
    service_name: str
    features: list[FeatureSpec]


@dataclass(frozen=True, slots=True)
class OverrideView:
    """A customer's value of one feature, set by billing_admin, beside its tier's value."""

    customer_id: uuid.UUID
    feature: FeatureSpec
    value: int
    tier_name: str
    tier_value: int


@dataclass(frozen=True, slots=True)
class TierFeature:
    service_name: str
    feature_key: str
    kind: FeatureKind
    window: Window | None
    value: int


@dataclass(frozen=True, slots=True)
class TierOffer:
    """A tier with what it allows of every feature of the catalog."""

    tier: Tier
    features: list[TierFeature]


class CatalogService:
    def __init__(self, catalog: CatalogCache) -> None:
        self._catalog = catalog

    @requires(Access.METERED)
    async def register(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        service_name: str,
        data: ServiceRegistration,
    ) -> ServiceCatalog:
        """Adds the service's new features and replaces the listed ones whole (a tier the
        body leaves out has the feature disabled). Features it does not list stay as
        they are: dropping one would drop the quotas customers hold of it."""
        specs = _specs(service_name, data, await _tier_names(session))
        existing = {
            row.feature_key: row
            for row in await session.scalars(
                select(Feature).where(col(Feature.service_name) == service_name)
            )
        }
        tier_ids = {tier.name: tier.id for tier in await session.scalars(select(Tier))}
        for index, spec in enumerate(specs):
            feature = _updated(existing.get(spec.feature_key), spec, index)
            session.add(feature)
            await session.flush()
            await _replace_values(session, feature.id, spec.values, tier_ids)
        invalidate(session, invalidation.CATALOG, service_name)
        await audit.record(
            session,
            "catalog.service_registered",
            actor=principal.user_id,
            customer_id=None,
            service_name=service_name,
            features=[spec.feature_key for spec in specs],
        )
        entries = await load_catalog(session)
        features = [e.spec for e in entries if e.spec.service_name == service_name]
        return ServiceCatalog(service_name, sorted(features, key=lambda spec: spec.feature_key))

    @requires(Access.ADMIN)
    async def set_override(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        customer_id: uuid.UUID,
        service_name: str,
        feature_key: str,
        data: OverrideChange,
    ) -> OverrideView:
        if (problem := value_problem("override", data.value)) is not None:
            raise InvalidInput(problem, param="value")
        customer = await customer_by_id(session, customer_id)
        feature = await _feature(session, service_name, feature_key)
        previous = await _override_value(session, customer_id, feature.id)
        statement = upsert(session, FeatureOverride).values(
            customer_id=customer_id, feature_id=feature.id, value=data.value
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["customer_id", "feature_id"], set_={"value": data.value}
            )
        )
        invalidate(session, invalidation.OVERRIDES, customer_id)
        await audit.record(
            session,
            "catalog.override_set",
            actor=principal.user_id,
            customer_id=customer_id,
            service_name=service_name,
            feature_key=feature_key,
            value=data.value,
            previous_value=previous,
        )
        return await _override_view(session, customer, feature, data.value)

    @requires(Access.ADMIN)
    async def overrides(
        self, session: AsyncSession, principal: Principal, *, customer_id: uuid.UUID
    ) -> list[OverrideView]:
        """The customer's overrides, by service and feature, each beside its tier's value."""
        customer = await customer_by_id(session, customer_id)
        tier = await session.get(Tier, customer.tier_id)
        assert tier is not None
        # One statement, the tier's values beside the overrides (none: disabled).
        tier_value = and_(
            col(FeatureValue.feature_id) == col(Feature.id), col(FeatureValue.tier_id) == tier.id
        )
        rows = await session.execute(
            select(Feature, col(FeatureOverride.value), col(FeatureValue.value))
            .join(FeatureOverride, col(FeatureOverride.feature_id) == col(Feature.id))
            .outerjoin(FeatureValue, tier_value)
            .where(col(FeatureOverride.customer_id) == customer_id)
            .order_by(col(Feature.service_name), col(Feature.feature_key))
        )
        return [
            _view(customer_id, feature, value, tier.name, given or 0)
            for feature, value, given in rows
        ]

    @requires(Access.ADMIN)
    async def clear_override(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        customer_id: uuid.UUID,
        service_name: str,
        feature_key: str,
    ) -> bool:
        """Back to the tier's value; clearing a value that was never set is no error.
        Whether there was one to clear."""
        await customer_by_id(session, customer_id)
        feature = await _feature(session, service_name, feature_key)
        previous = await _override_value(session, customer_id, feature.id)
        deleted = await affected_rows(
            session,
            delete(FeatureOverride).where(
                col(FeatureOverride.customer_id) == customer_id,
                col(FeatureOverride.feature_id) == feature.id,
            ),
        )
        if deleted:
            invalidate(session, invalidation.OVERRIDES, customer_id)
            await audit.record(
                session,
                "catalog.override_cleared",
                actor=principal.user_id,
                customer_id=customer_id,
                service_name=service_name,
                feature_key=feature_key,
                previous_value=previous,
            )
        return deleted > 0

    async def tier_features(self, tier_name: str) -> list[TierFeature]:
        """The tier's value of every feature, 0 where the tier does not name it; from the
        catalog in memory."""
        entries = sorted(await self._catalog.entries(), key=lambda entry: entry.spec.key)
        return [_tier_feature(entry.spec, tier_name) for entry in entries]

    async def offers(self, tiers: Iterable[Tier]) -> list[TierOffer]:
        return [TierOffer(tier, await self.tier_features(tier.name)) for tier in tiers]


def _tier_feature(spec: FeatureSpec, tier_name: str) -> TierFeature:
    return TierFeature(
        spec.service_name, spec.feature_key, spec.kind, spec.window, spec.value_for(tier_name)
    )


async def _tier_names(session: AsyncSession) -> dict[str, str]:
    """Every way a client may name a tier (name, display name), to its name."""
    names: dict[str, str] = {}
    for tier in await session.scalars(select(Tier)):
        names[tier.name] = tier.name
        names.setdefault(normalise_tier_name(tier.display_name), tier.name)
    return names


def _specs(
    service_name: str, data: ServiceRegistration, tier_names: Mapping[str, str]
) -> list[FeatureSpec]:
    seen: set[str] = set()
    specs: list[FeatureSpec] = []
    for index, feature in enumerate(data.features):
        spec = _spec(service_name, feature, tier_names, f"features.{index}")
        if spec.feature_key in seen:
            raise InvalidInput(
                f"featureKey {spec.feature_key!r} appears twice.",
                param=f"features.{index}.feature_key",
                within=ServiceRegistration,
            )
        seen.add(spec.feature_key)
        specs.append(spec)
    return specs


def _spec(
    service_name: str, feature: FeatureRegistration, tier_names: Mapping[str, str], at: str
) -> FeatureSpec:
    window = feature.window or ""
    for field, message in feature_problems(feature.kind, service_name, feature.feature_key, window):
        param = "service_name" if field == "service" else f"{at}.{field}"
        raise InvalidInput(f"{{param}}: {message}.", param=param, within=ServiceRegistration)
    values: dict[str, int] = {}
    for given, value in feature.values.items():
        param = f"{at}.values.{given}"
        tier = tier_names.get(normalise_tier_name(given))
        if tier is None:
            raise InvalidInput(
                f"{{param}}: unknown tier {given!r}.", param=param, within=ServiceRegistration
            )
        if tier in values:
            raise InvalidInput(
                f"{{param}}: the {tier} tier is named twice.",
                param=param,
                within=ServiceRegistration,
            )
        if (problem := value_problem(tier, value)) is not None:
            raise InvalidInput(f"{{param}}: {problem}.", param=param, within=ServiceRegistration)
        values[tier] = value
    return FeatureSpec(
        service_name,
        feature.feature_key,
        FeatureKind(feature.kind),
        Window(window) if window else None,
        feature.description,
        values,
    )


def _updated(feature: Feature | None, spec: FeatureSpec, index: int) -> Feature:
    if feature is None:
        return Feature(
            service_name=spec.service_name,
            feature_key=spec.feature_key,
            kind=spec.kind,
            window=spec.window,
            description=spec.description,
        )
    if feature.kind != spec.kind:
        # Counters of one kind mean nothing as the other: quotas held, or hits in a window.
        raise InvalidInput(
            f"{spec.feature_key} is a {feature.kind} feature; its kind cannot change.",
            param=f"features.{index}.kind",
            within=ServiceRegistration,
        )
    feature.window = spec.window
    feature.description = spec.description
    return feature


async def _replace_values(
    session: AsyncSession,
    feature_id: uuid.UUID,
    values: Mapping[str, int],
    tier_ids: Mapping[str, uuid.UUID],
) -> None:
    await session.execute(delete(FeatureValue).where(col(FeatureValue.feature_id) == feature_id))
    session.add_all(
        FeatureValue(feature_id=feature_id, tier_id=tier_ids[tier], value=value)
        for tier, value in values.items()
    )
    await session.flush()


async def _override_value(
    session: AsyncSession, customer_id: uuid.UUID, feature_id: uuid.UUID
) -> int | None:
    value: int | None = await session.scalar(
        select(FeatureOverride.value).where(
            col(FeatureOverride.customer_id) == customer_id,
            col(FeatureOverride.feature_id) == feature_id,
        )
    )
    return value


async def _feature(session: AsyncSession, service_name: str, feature_key: str) -> Feature:
    rows = list(
        await session.scalars(select(Feature).where(col(Feature.service_name) == service_name))
    )
    if not rows:
        raise ServiceNotFound(param="service_name")
    for row in rows:
        if row.feature_key == feature_key:
            return row
    raise FeatureNotFound(param="feature_key")


async def _override_view(
    session: AsyncSession, customer: Customer, feature: Feature, value: int
) -> OverrideView:
    tier = await session.get(Tier, customer.tier_id)
    assert tier is not None
    tier_value = await session.scalar(
        select(FeatureValue.value).where(
            col(FeatureValue.feature_id) == feature.id, col(FeatureValue.tier_id) == tier.id
        )
    )
    return _view(customer.id, feature, value, tier.name, tier_value or 0)


def _view(
    customer_id: uuid.UUID, feature: Feature, value: int, tier_name: str, tier_value: int
) -> OverrideView:
    spec = FeatureSpec(
        feature.service_name,
        feature.feature_key,
        FeatureKind(feature.kind),
        Window(feature.window) if feature.window else None,
        feature.description,
    )
    return OverrideView(customer_id, spec, value, tier_name, tier_value)
