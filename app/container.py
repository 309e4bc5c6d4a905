"""Builds every service once at start-up: the one object both transports use."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.service import AdminService
from app.alerts.cache import ThresholdCache
from app.alerts.delivery import as_webhook
from app.alerts.service import AlertService
from app.alerts.store import AlertStore
from app.alerts.watch import AlertWatch
from app.alerts.writer import AlertWriter
from app.audit.service import AuditService
from app.auth.apikeys import ApiKeyService
from app.auth.credentials import CredentialBackend
from app.auth.identity import IdentityService
from app.auth.principal import Principal, known_principal
from app.auth.tokens import TokenVerifier, load_or_create_secret
from app.billing.outbox import StripeOutbox
from app.billing.service import BillingService
from app.billing.stripe_gateway import StripeGateway
from app.billing.worker import BillingWorker
from app.catalog.cache import CatalogCache
from app.catalog.loader import default_catalog, parse_catalog
from app.catalog.model import FeatureSpec
from app.catalog.service import CatalogService
from app.catalog.store import seed_catalog
from app.core import invalidation
from app.core.clock import Clock, utcnow
from app.core.db import Database, PoolLimits
from app.core.errors import Conflict
from app.core.invalidation import Invalidator
from app.customers.invitations import accept_invitation
from app.customers.members import MemberService
from app.customers.service import CustomerService
from app.customers.team import Team
from app.ops.self_limit import SelfLimit
from app.ops.tracing import tracing_for
from app.settings import Settings
from app.tiers.service import TierService
from app.usage.consume import ConsumeService
from app.usage.counters import counter_store
from app.usage.events import EventService
from app.usage.fanout import fan_out
from app.usage.ledger import Ledger
from app.usage.live import LiveUsageService
from app.usage.notifier import UsageNotifier
from app.usage.quotas import QuotaService
from app.usage.reports import ReportService
from app.usage.reseed import CounterGuard
from app.usage.serving_lock import ServingLock
from app.usage.subjects import SubjectCache
from app.webhooks.addresses import AddressGuard, parse_allowed_hosts
from app.webhooks.sender import Sender
from app.webhooks.service import WebhookService
from app.webhooks.worker import WebhookWorker

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Services:
    customers: CustomerService
    members: MemberService
    tiers: TierService
    admin: AdminService
    api_keys: ApiKeyService
    consume: ConsumeService
    reports: ReportService
    catalog: CatalogService
    quotas: QuotaService
    events: EventService
    audit: AuditService
    billing: BillingService
    webhooks: WebhookService
    alerts: AlertService
    live: LiveUsageService


class Container:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = utcnow,
        span_exporter: SpanExporter | None = None,
    ) -> None:
        """`span_exporter`: where spans go instead of the OTLP endpoint, when traces are on."""
        self.settings = settings
        self.clock = clock
        self.tracing = tracing_for(settings, span_exporter)
        self.db = Database(settings.resolved_database_url, clock=clock, pool=pool_limits(settings))
        self.jwt_secret = signing_secret(settings)
        self.invalidator = Invalidator(self.db, clock)
        self.catalog = CatalogCache(self.db)
        self.subjects = SubjectCache(self.db)
        self.counters = counter_store(settings.rate_limit_storage)
        # Exclusive on process-local counters: no other process may serve the database.
        self.serving_lock = ServingLock(self.db, exclusive=not self.counters.shared)
        self.ledger = Ledger(self.db)
        # Alerts: delivered as outgoing webhooks, written in the transaction that stores
        # the alert (`alert_store.observe` is where live subscriptions connect too).
        self.alert_store = AlertStore(on_alert=[as_webhook])  # live: below, with the notifier
        self.alert_thresholds = ThresholdCache(self.db)
        self.alert_writer = AlertWriter(self.db, self.alert_store)
        alerts = AlertWatch(self.alert_thresholds, self.alert_writer, self.alert_store)
        self.counter_guard = CounterGuard(self.db, self.counters, clock, self.ledger)
        # Live usage reaches the subscribers of every process the way the counters are
        # shared: Redis pub/sub beside Redis counters, in the process beside its own.
        self.notifier = UsageNotifier(fan_out(settings.rate_limit_storage))
        self.alert_store.observe(after_commit=self.notifier.alert_stored)
        call_span = self.tracing.stripe_call if self.tracing else None
        gateway = (
            StripeGateway(settings, call_span=call_span) if settings.stripe_configured else None
        )
        self.stripe_gateway = gateway
        self.outbox = StripeOutbox(self.db, clock, gateway)
        billing = BillingService(settings, self.db, clock, gateway, self.outbox)
        self.billing_worker = BillingWorker(self.db, self.outbox, billing)
        team = Team(clock, timedelta(days=settings.invitation_ttl_days))
        guard = AddressGuard(parse_allowed_hosts(settings.webhook_allowed_hosts))
        sender = Sender(guard, timeout_seconds=settings.webhook_timeout_seconds)
        # Past the attempt's timeout, with room to record its outcome.
        grace = settings.webhook_timeout_seconds + 5
        self.webhook_worker = WebhookWorker(
            self.db,
            clock,
            sender,
            stop_grace_seconds=grace,
            retention=timedelta(days=settings.webhook_log_retention_days),
            retry_schedule=[timedelta(seconds=wait) for wait in settings.webhook_retry_seconds],
        )
        api_keys = ApiKeyService(clock)
        reports = ReportService(clock, self.catalog, self.subjects, self.counters)
        self.services = Services(
            customers=CustomerService(clock, team, payments_configured=settings.stripe_configured),
            members=MemberService(team),
            tiers=TierService(),
            admin=AdminService(clock, team),
            api_keys=api_keys,
            consume=ConsumeService(
                clock,
                self.catalog,
                self.subjects,
                self.counters,
                self.ledger,
                alerts,
                changed=self.notifier.changed,
            ),
            reports=reports,
            catalog=CatalogService(self.catalog),
            quotas=QuotaService(
                self.db, clock, self.catalog, self.subjects, self.counters, self.ledger, alerts
            ),
            events=EventService(),
            audit=AuditService(),
            billing=billing,
            webhooks=WebhookService(
                self.db, clock, guard, max_endpoints=settings.webhook_max_endpoints
            ),
            alerts=AlertService(self.catalog),
            live=LiveUsageService(self.db, clock, reports, self.subjects, self.notifier),
        )
        self.identity = IdentityService(self.db, clock, accept_invitation)
        self.credentials = CredentialBackend(
            settings, self.db, TokenVerifier(settings, self.jwt_secret), self.identity, api_keys
        )
        self.self_limit = SelfLimit(settings, self.credentials, self.counters, clock)
        self._subscribe_caches()

    def _subscribe_caches(self) -> None:
        subscribe = self.invalidator.subscribe
        subscribe(invalidation.CATALOG, self.catalog.mark_stale)
        subscribe(invalidation.OVERRIDES, self.catalog.drop_overrides)
        subscribe(invalidation.MEMBERSHIP, self.subjects.drop_membership)
        subscribe(invalidation.CUSTOMER, self.subjects.drop_customer)
        subscribe(invalidation.TIERS, self.subjects.drop_tiers)
        subscribe(invalidation.ROLES, self.identity.forget)
        subscribe(invalidation.MEMBERSHIP, self.identity.forget)
        subscribe(invalidation.INVITATION, self.identity.forget_email)
        subscribe(invalidation.API_KEY, self.credentials.forget_api_key)
        subscribe(invalidation.ALERT_THRESHOLDS, self.alert_thresholds.drop)
        subscribe(invalidation.CUSTOMER, self.alert_thresholds.drop)

    async def start(self) -> None:
        if self.tracing:
            self.tracing.start(self.db.engine)
        await self.serving_lock.acquire()
        if self.settings.migrate_on_start:
            from app.core.migrate import upgrade_database

            await upgrade_database(self.db.url)
        await self._seed_catalog()
        await self.catalog.refresh()
        await self.ledger.start()
        await self.alert_writer.start()
        await self.counter_guard.start()
        await self.invalidator.start()
        await self.billing_worker.start()
        await self.webhook_worker.start()
        await self.notifier.start()

    async def _seed_catalog(self) -> None:
        """Another process starting at the same moment may insert the same features:
        its insert wins, and a second pass finds nothing left to add."""
        specs = catalog_file(self.settings)
        for attempt in (1, 2):
            try:
                async with self.db.transaction() as session:
                    added = await seed_catalog(session, specs)
                break
            except Conflict:
                if attempt == 2:
                    raise
        if added:
            logger.info("catalog seeded", extra={"features": added})

    async def stop(self) -> None:
        # First: open subscriptions complete, and the last changes reach the other processes.
        await self.notifier.stop()
        await self.webhook_worker.stop()
        await self.billing_worker.stop()
        await self.alert_writer.stop()
        await self.ledger.stop()
        await self.invalidator.stop()
        await self.counter_guard.stop()
        await self.counters.close()
        await self.serving_lock.release()
        await self.db.dispose()
        if self.tracing:
            self.tracing.stop()


def catalog_file(settings: Settings) -> list[FeatureSpec]:
    """The configured catalog file, or the shipped default; a bad file stops the start."""
    if settings.catalog_file is None:
        return default_catalog()
    return parse_catalog(settings.catalog_file.read_text("utf-8"), str(settings.catalog_file))


def pool_limits(settings: Settings) -> PoolLimits:
    return PoolLimits(
        size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        timeout_seconds=settings.db_pool_timeout_seconds,
        recycle_seconds=settings.db_pool_recycle_seconds,
    )


def signing_secret(settings: Settings) -> str | None:
    """The HS256 secret: configured, or generated once into the data directory. None when
    an identity provider's keys are configured: tokens are then theirs alone."""
    if settings.uses_jwks:
        return None
    return settings.jwt_secret or load_or_create_secret(settings.data_dir)


# What a request needs of the container on either transport: its caller, the services and
# a transaction. Each transport's per-request object mixes `ContainerCall` in beside its
# `container`.


async def caller(container: Container, scope: Mapping[str, Any]) -> Principal:
    """The caller of an ASGI request: as the own rate limit authenticated them, when it did."""
    known = known_principal(scope)
    if known is not None:
        return known
    return await container.credentials.of_scope(scope)


class ContainerCall:
    __slots__ = ()
    container: Container

    @property
    def services(self) -> Services:
        return self.container.services

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        async with self.container.db.transaction() as session:
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.container.db.transaction(write=False) as session:
            yield session
