"""A customer's alert thresholds, read and set, and its alerts, newest first.

A team's owner and admins read and set their own customer's; billing_admin any customer's,
naming it (`customer_id`, which only billing_admin may name). Setting replaces the whole
set in one transaction with its cache invalidation, so every process's decisions watch the
new thresholds within the change log's poll, and is audited on the customer's chain.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.alerts.repository import alert_page, replace_scopes, scopes_of
from app.alerts.thresholds import (
    AlertKind,
    ThresholdInput,
    ThresholdsChange,
    ThresholdScope,
    ThresholdSettings,
    scope_order,
)
from app.auth.principal import Access, Principal, requires
from app.auth.roles import TeamAction
from app.auth.seats import admin_named_customer
from app.catalog.cache import CatalogCache
from app.core import audit, invalidation
from app.core.errors import InvalidInput
from app.core.inputs import parse_unix_seconds
from app.core.invalidation import invalidate
from app.core.pagination import Page, PageRequest
from app.models import UsageAlert


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Which alerts: of a kind, a service, a feature, in [since, until] (unix seconds,
    both included)."""

    kind: AlertKind | None = None
    service_name: str | None = None
    feature_key: str | None = None
    since: int | None = None
    until: int | None = None


class AlertService:
    def __init__(self, catalog: CatalogCache) -> None:
        self._catalog = catalog

    @requires(Access.USER, team=TeamAction.READ_ALERTS, any_team_for_admin=True)
    async def thresholds(
        self, session: AsyncSession, principal: Principal, *, customer_id: uuid.UUID | None = None
    ) -> ThresholdSettings:
        visible = await admin_named_customer(
            session, principal, TeamAction.READ_ALERTS, customer_id
        )
        return _settings(visible, await scopes_of(session, visible))

    @requires(Access.USER, team=TeamAction.SET_ALERTS, any_team_for_admin=True)
    async def set_thresholds(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        data: ThresholdsChange,
        customer_id: uuid.UUID | None = None,
    ) -> ThresholdSettings:
        """Replaces the customer's whole set; an empty list of percentages turns a
        scope's alerts off, and a scope left out falls back to the next wider one."""
        visible = await admin_named_customer(session, principal, TeamAction.SET_ALERTS, customer_id)
        features = {entry.spec.key for entry in await self._catalog.entries()}
        scopes = _scopes(data, features)
        previous = await scopes_of(session, visible)
        await replace_scopes(session, visible, scopes)
        invalidate(session, invalidation.ALERT_THRESHOLDS, visible)
        settings = _settings(visible, scopes)
        await audit.record(
            session,
            "alert.thresholds_set",
            actor=principal.user_id,
            customer_id=visible,
            thresholds=[_plain(scope) for scope in settings.scopes],
            previous=[_plain(scope) for scope in sorted(previous, key=scope_order)],
        )
        return settings

    @requires(Access.USER, team=TeamAction.READ_ALERTS, any_team_for_admin=True)
    async def list(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        wanted: AlertFilter,
        page: PageRequest,
        customer_id: uuid.UUID | None = None,
    ) -> Page[UsageAlert]:
        visible = await admin_named_customer(
            session, principal, TeamAction.READ_ALERTS, customer_id
        )
        return await alert_page(session, visible, _filters(wanted), page)


def _scopes(data: ThresholdsChange, features: set[tuple[str, str]]) -> list[ThresholdScope]:
    """The scopes given, each naming a service or feature of the catalog, once."""
    services = {service_name for service_name, _ in features}
    scopes: dict[tuple[str, str], ThresholdScope] = {}
    for index, given in enumerate(data.thresholds):
        scope = _scope(given, f"thresholds.{index}", services, features)
        if scope.key in scopes:
            raise _invalid("{param}: this scope is given twice.", f"thresholds.{index}")
        scopes[scope.key] = scope
    return list(scopes.values())


def _scope(
    given: ThresholdInput, at: str, services: set[str], features: set[tuple[str, str]]
) -> ThresholdScope:
    service_name, feature_key = given.service_name, given.feature_key
    if feature_key is not None and service_name is None:
        raise _invalid(
            "{param}: a featureKey needs the serviceName it belongs to.", f"{at}.feature_key"
        )
    if service_name is not None and service_name not in services:
        raise _invalid("{param}: no service of the catalog has this name.", f"{at}.service_name")
    if feature_key is not None and (service_name, feature_key) not in features:
        raise _invalid("{param}: the service has no feature of this key.", f"{at}.feature_key")
    percents = tuple(sorted(set(given.percents)))
    if len(percents) != len(given.percents):
        raise _invalid("{param}: a percentage is given twice.", f"{at}.percents")
    return ThresholdScope(service_name, feature_key, percents)


def _invalid(message: str, param: str) -> InvalidInput:
    return InvalidInput(message, param=param, within=ThresholdsChange)


def _settings(customer_id: uuid.UUID, scopes: list[ThresholdScope]) -> ThresholdSettings:
    return ThresholdSettings(customer_id, sorted(scopes, key=scope_order))


def _plain(scope: ThresholdScope) -> Mapping[str, object]:
    return {
        "service_name": scope.service_name,
        "feature_key": scope.feature_key,
        "percents": list(scope.percents),
    }


def _filters(wanted: AlertFilter) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = []
    if wanted.kind is not None:
        filters.append(col(UsageAlert.kind) == wanted.kind.value)
    if wanted.service_name is not None:
        filters.append(col(UsageAlert.service_name) == wanted.service_name)
    if wanted.feature_key is not None:
        filters.append(col(UsageAlert.feature_key) == wanted.feature_key)
    if wanted.since is not None:
        filters.append(col(UsageAlert.occurred_at) >= parse_unix_seconds(wanted.since, "since"))
    if wanted.until is not None:
        # `until` names a whole second: alerts in its fraction belong to it.
        moment = parse_unix_seconds(wanted.until + 1, "until")
        filters.append(col(UsageAlert.occurred_at) < moment)
    return filters
