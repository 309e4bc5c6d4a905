"""Every setting of the service, read from `BILLING_*` environment variables."""

from __future__ import annotations

import ipaddress
import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Self
from urllib.parse import urlsplit

from limits import parse
from limits.aio.strategies import STRATEGIES
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_ORIGIN = re.compile(r"https?://[^/\s?#*]+")
# What one request may hold at once: its transaction's connection, and one more for a
# cache it loads meanwhile.
MIN_POOL_CONNECTIONS = 2
# A failed webhook delivery is retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h:
# a little over 27 hours in all.
DEFAULT_WEBHOOK_RETRY_SECONDS = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
MIN_WEBHOOK_RETRY_SPAN_SECONDS = 86400


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str | None = None
    # Each process's PostgreSQL connections (SQLite keeps SQLAlchemy's own pool): kept
    # open, opened beyond those under load, how long a transaction waits for one, and the
    # age at which one is replaced (unset: never).
    db_pool_size: int = Field(default=10, ge=1, le=1000)
    db_max_overflow: int = Field(default=20, ge=0, le=1000)
    db_pool_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    db_pool_recycle_seconds: int | None = Field(default=None, ge=1)
    rate_limit_storage: str = "memory://"
    catalog_file: Path | None = None

    jwt_secret: str | None = None
    jwt_jwks_url: str | None = None
    jwt_jwks_file: Path | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: int = 30

    stripe_api_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    stripe_portal_return_url: str = "http://127.0.0.1:8000/"
    stripe_trial_days: int = Field(default=30, ge=1, le=730)
    # While past_due, a subscription stays enabled for this long after the period it failed.
    stripe_past_due_grace_days: int = Field(default=7, ge=0, le=90)
    stripe_timeout_seconds: float = Field(default=10.0, gt=0)
    stripe_max_network_retries: int = Field(default=2, ge=0, le=10)
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=1)

    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The origins of the browser apps allowed to call the service (`https://app.example`).
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    self_limit_anonymous: str = "120/minute"
    self_limit_user: str = "1200/minute"
    # Metered services sit on other services' hot paths, and their calls are already
    # bounded by the features they meter: no budget of their own unless one is set.
    self_limit_service: str | None = None
    self_limit_strategy: str = "fixed-window"

    max_body_bytes: int = 1024 * 1024

    # Prometheus metrics at /metrics, recorded on every request; off, neither.
    metrics: bool = True
    # Who may read /metrics: with a token, whoever sends it as a bearer; without one,
    # callers on the loopback interface that came through no proxy.
    metrics_token: SecretStr | None = None
    invitation_ttl_days: int = 7
    # Hosts (`host` or `host:port`) webhooks may reach over plain http and at any address,
    # loopback and private networks included; every other endpoint is https:// to a
    # public address.
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webhook_max_endpoints: int = Field(default=20, ge=1, le=1000)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # The waits before each retry of a failed delivery. They must span a day at least, so
    # that a receiver down for a day loses nothing.
    webhook_retry_seconds: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_WEBHOOK_RETRY_SECONDS)
    )
    # Events, their deliveries and the delivery log are kept this long, then deleted.
    webhook_log_retention_days: int = Field(default=30, ge=1, le=3650)
    graphql_max_depth: int = 10
    graphql_max_aliases: int = 30
    graphql_max_tokens: int = 5000
    graphql_max_cost: int = 5000
    # Live usage over WebSocket (`/graphql`, graphql-transport-ws): the subscriptions one
    # connection may hold at once, and one caller across all their connections to this
    # process. Each costs a task and a counters read per change of its customer.
    graphql_subscriptions_per_connection: int = Field(default=10, ge=1, le=1000)
    graphql_subscriptions_per_caller: int = Field(default=20, ge=1, le=10_000)
    migrate_on_start: bool = True
    log_level: str = "INFO"
    # One JSON line per request (method, route, status, time, request id): off by default,
    # as it costs the hot path a line each; proxies usually keep one already.
    access_log: bool = False

    # Traces (OpenTelemetry, the `otel` extra): on when the standard OTLP endpoint is set,
    # or BILLING_OTEL=1; BILLING_OTEL=0 keeps them off whatever the environment says.
    otel: bool | None = None
    # Read to decide; the exporter reads it (and the other OTEL_EXPORTER_OTLP_*) itself.
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT", "otel_exporter_otlp_endpoint"),
    )
    otel_service_name: str = Field(
        default="billing", validation_alias=AliasChoices("OTEL_SERVICE_NAME", "otel_service_name")
    )

    @field_validator(
        "self_limit_service",
        "otel",
        "otel_exporter_otlp_endpoint",
        "db_pool_recycle_seconds",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _pool_serves_a_request(self) -> Self:
        connections = self.db_pool_size + self.db_max_overflow
        if connections < MIN_POOL_CONNECTIONS:
            raise ValueError(
                f"BILLING_DB_POOL_SIZE + BILLING_DB_MAX_OVERFLOW is {connections}: a request "
                "may need a second connection while it holds one (a cache it loads inside "
                "its transaction), and with one alone it would wait for itself and fail "
                f"with 503. Allow at least {MIN_POOL_CONNECTIONS}, e.g. "
                "BILLING_DB_MAX_OVERFLOW=1."
            )
        return self

    @field_validator("self_limit_anonymous", "self_limit_user", "self_limit_service")
    @classmethod
    def _limit_notation(cls, value: str | None) -> str | None:
        if value is not None:
            parse(value)  # `limits` notation, e.g. "1200/minute"; raises ValueError
        return value

    @field_validator(
        "trusted_proxies",
        "cors_origins",
        "webhook_allowed_hosts",
        "webhook_retry_seconds",
        mode="before",
    )
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def tracing(self) -> bool:
        if self.otel is not None:
            return self.otel
        return self.otel_exporter_otlp_endpoint is not None

    @property
    def stripe_configured(self) -> bool:
        return bool(self.stripe_api_key and self.stripe_webhook_secret)

    @field_validator("self_limit_strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy {value!r}: one of {', '.join(sorted(STRATEGIES))}")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)
        return value

    @field_validator("webhook_retry_seconds")
    @classmethod
    def _check_retries(cls, value: list[float]) -> list[float]:
        name = "BILLING_WEBHOOK_RETRY_SECONDS"
        if not value or len(value) > 20 or any(not 0 < wait <= 86400 for wait in value):
            raise ValueError(f"{name}: 1 to 20 waits, each over 0 and at most 86400 seconds")
        if value != sorted(value):
            raise ValueError(f"{name}: each wait at least as long as the one before")
        if sum(value) < MIN_WEBHOOK_RETRY_SPAN_SECONDS:
            default = ",".join(f"{wait:g}" for wait in DEFAULT_WEBHOOK_RETRY_SECONDS)
            raise ValueError(
                f"{name}: the retries span {sum(value) / 3600:.1f} h; they must span 24 h at "
                f"least, or a receiver down for a day would lose its events. Lengthen the "
                f"last waits (the default is {default})."
            )
        return value

    @field_validator("webhook_allowed_hosts")
    @classmethod
    def _check_hosts(cls, value: list[str]) -> list[str]:
        for entry in value:
            parts = urlsplit(f"//{entry}")
            try:
                port = parts.port
            except ValueError:
                port = -1
            if not parts.hostname or port == -1 or parts.path or parts.username:
                raise ValueError(
                    f"BILLING_WEBHOOK_ALLOWED_HOSTS: {entry!r} is not a host or host:port"
                )
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin == "*":
                raise ValueError(
                    "BILLING_CORS_ORIGINS may not be '*': the browser sends the caller's "
                    "credentials, so name each origin allowed (https://app.example)"
                )
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"BILLING_CORS_ORIGINS: {origin!r} is not an origin "
                    "(scheme://host[:port], no path)"
                )
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'billing.sqlite3').resolve()}"

    @cached_property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in self.trusted_proxies)

    @property
    def uses_jwks(self) -> bool:
        return bool(self.jwt_jwks_url or self.jwt_jwks_file)
