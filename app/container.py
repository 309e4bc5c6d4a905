"""Builds every service once at start-up: the one object both transports use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from app.admin.service import AdminService
from app.auth.apikeys import ApiKeyService
from app.auth.credentials import CredentialBackend
from app.auth.identity import IdentityService
from app.auth.tokens import TokenVerifier, load_or_create_secret
from app.core.clock import Clock, utcnow
from app.core.db import Database
from app.customers.members import MemberService
from app.customers.service import CustomerService
from app.customers.team import Team
from app.settings import Settings
from app.tiers.service import TierService


@dataclass(frozen=True, slots=True)
class Services:
    customers: CustomerService
    members: MemberService
    tiers: TierService
    admin: AdminService
    api_keys: ApiKeyService


class Container:
    def __init__(self, settings: Settings, *, clock: Clock = utcnow) -> None:
        self.settings = settings
        self.clock = clock
        self.db = Database(settings.resolved_database_url)
        self.jwt_secret = signing_secret(settings)
        team = Team(clock, timedelta(days=settings.invitation_ttl_days))
        api_keys = ApiKeyService(clock)
        self.services = Services(
            customers=CustomerService(clock, team),
            members=MemberService(team),
            tiers=TierService(),
            admin=AdminService(clock, team),
            api_keys=api_keys,
        )
        self.credentials = CredentialBackend(
            settings,
            self.db,
            TokenVerifier(settings, self.jwt_secret),
            IdentityService(self.db, clock),
            api_keys,
        )

    async def start(self) -> None:
        if self.settings.migrate_on_start:
            from app.core.migrate import upgrade_database

            await upgrade_database(self.db.url)

    async def stop(self) -> None:
        await self.db.dispose()


def signing_secret(settings: Settings) -> str | None:
    """The HS256 secret: configured, or generated once into the data directory when no
    identity provider's keys are configured either."""
    if settings.jwt_secret:
        return settings.jwt_secret
    if settings.uses_jwks:
        return None
    return load_or_create_secret(settings.data_dir)
