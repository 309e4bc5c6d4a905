"""The `billing` command: serve, migrate, mint tokens, grant roles, export the schema,
verify the audit trail."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from app.auth.principal import PlatformRole
from app.settings import Settings

cli = typer.Typer(help="Billing, team and usage-limits API server.", no_args_is_help=True)
# Below the 30 s an orchestrator commonly waits after SIGTERM before SIGKILL (Kubernetes'
# terminationGracePeriodSeconds), leaving the time to write the usage ledger.
GRACEFUL_TIMEOUT_SECONDS = 20

audit = typer.Typer(help="The audit trail.", no_args_is_help=True)
cli.add_typer(audit, name="audit")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    graceful_timeout: Annotated[
        int,
        typer.Option(
            "--graceful-timeout",
            min=0,
            help="On SIGTERM (or Ctrl+C): stop accepting, give the requests under way this "
            "many seconds to finish (those left are cancelled), then write the usage "
            "ledger and exit.",
        ),
    ] = GRACEFUL_TIMEOUT_SECONDS,
) -> None:
    """Serve the API (GraphiQL at /graphql); the database is migrated at start-up."""
    import uvicorn

    from app.ops.logging import UVICORN_LOG_CONFIG
    from app.ops.tracing import TracingUnavailable, check_tracing

    settings = Settings()
    if workers > 1 and settings.rate_limit_storage.startswith("memory://"):
        typer.echo(
            f"Refusing to start {workers} workers on process-local counters "
            "(BILLING_RATE_LIMIT_STORAGE=memory://): each worker would count alone and "
            "every limit would be multiplied by the number of workers. Set "
            "BILLING_RATE_LIMIT_STORAGE=redis://<host>:6379/0 to share the counters, "
            "or serve with --workers 1.",
            err=True,
        )
        raise typer.Exit(2)
    try:
        check_tracing(settings)
    except TracingUnavailable as exc:
        typer.echo(f"Refusing to start: {exc}", err=True)
        raise typer.Exit(2) from exc

    if workers > 1 and Settings().metrics:
        _share_metrics_between_workers()
    typer.echo(f"Serving on http://{host}:{port} (GraphiQL: http://{host}:{port}/graphql)")
    _exit_after_sigterm()
    uvicorn.run(
        "app.main:app",
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        log_config=UVICORN_LOG_CONFIG,  # its lines in the app's JSON
        access_log=False,  # BILLING_ACCESS_LOG has the app write them, with request ids
        proxy_headers=False,  # the app applies BILLING_TRUSTED_PROXIES itself
        timeout_graceful_shutdown=graceful_timeout,
    )


def _exit_after_sigterm() -> None:
    """Exit with status 0 once a SIGTERM's graceful shutdown is done.

    uvicorn handles SIGTERM itself while it serves, and after its graceful shutdown
    raises the signal again with the handler it found: by default that kills the process,
    which then reports "terminated by SIGTERM" (143) for a stop that went as planned.
    This handler makes that second SIGTERM, or one that comes before uvicorn serves, an
    ordinary exit. (Under --workers, uvicorn's supervisor handles it and exits 0.)"""
    import signal

    def stop(_signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)


def _share_metrics_between_workers() -> None:
    """Workers write their metrics to files in one directory, which `/metrics` sums: the
    operator's `PROMETHEUS_MULTIPROC_DIR`, emptied of a previous run's files, or a new
    one. Set before any worker imports `prometheus_client`, which reads it then."""
    import os
    import tempfile

    from app.core.metrics import MULTIPROCESS_DIR

    directory = os.environ.get(MULTIPROCESS_DIR)
    if directory:
        for stale in Path(directory).glob("*.db"):
            stale.unlink()
    else:
        os.environ[MULTIPROCESS_DIR] = tempfile.mkdtemp(prefix="billing-metrics-")


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from app.core.migrate import upgrade_database_sync

    url = Settings().resolved_database_url
    upgrade_database_sync(url)
    typer.echo("Database is up to date.")


@cli.command()
def token(
    user_id: Annotated[str, typer.Option("--user-id", help="The user's id (a UUID).")],
    email: Annotated[str | None, typer.Option(help="The user's verified e-mail.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Add the billing_admin role.")] = False,
    service: Annotated[
        list[str] | None,
        typer.Option(
            "--service",
            help="Add the billing_service role, metering this service (repeatable; "
            "'*' for every service).",
        ),
    ] = None,
    hours: Annotated[float, typer.Option(help="Lifetime of the token in hours.")] = 12.0,
) -> None:
    """Mint a bearer token signed with the configured (or generated) HS256 secret."""
    from app.auth.tokens import mint_token
    from app.container import signing_secret

    settings = Settings()
    secret = signing_secret(settings)
    if secret is None:
        raise typer.BadParameter("Tokens come from the identity provider when JWKS is configured.")
    services = _service_names(service)
    roles = [PlatformRole.BILLING_ADMIN.value] * admin + [
        PlatformRole.BILLING_SERVICE.value
    ] * bool(services)
    typer.echo(
        mint_token(
            secret,
            user_id=_uuid(user_id),
            email=email,
            roles=roles,
            services=services,
            ttl=timedelta(hours=hours),
        )
    )


@cli.command("grant-role")
def grant_role(
    user_id: Annotated[str, typer.Option("--user-id", help="The user's id (a UUID).")],
    role: Annotated[PlatformRole, typer.Option(help="The platform role to grant.")],
    service: Annotated[
        list[str] | None,
        typer.Option(
            "--service",
            help="With billing_service: a service the user meters (repeatable; '*' for "
            "every service). With --revoke, only these services are taken away.",
        ),
    ] = None,
    revoke: Annotated[bool, typer.Option("--revoke", help="Take the role away.")] = False,
) -> None:
    """Grant (or revoke) a platform role, e.g. for a user who calls with an API key."""
    from app.auth.users import set_role_grant
    from app.core.db import Database

    services = _service_names(service)
    if services and role is not PlatformRole.BILLING_SERVICE:
        raise typer.BadParameter("only billing_service meters services", param_hint="--service")
    if role is PlatformRole.BILLING_SERVICE and not services and not revoke:
        raise typer.BadParameter(
            "name the services it meters (or '*' for every service)", param_hint="--service"
        )

    async def run() -> None:
        db = Database(Settings().resolved_database_url)
        try:
            async with db.transaction() as session:
                await set_role_grant(
                    session, _uuid(user_id), role, granted=not revoke, services=services
                )
        finally:
            await db.dispose()

    asyncio.run(run())
    scope = f" ({', '.join(services)})" if services else ""
    typer.echo(f"{'Revoked' if revoke else 'Granted'} {role.value}{scope} for {user_id}.")


@cli.command("check-catalog")
def check_catalog(
    path: Annotated[
        Path, typer.Argument(help="A catalog CSV (see app/catalog/default_catalog.csv).")
    ],
) -> None:
    """Validate a catalog file as the server would at start (BILLING_CATALOG_FILE)."""
    from app.catalog.loader import CatalogError, parse_catalog

    try:
        features = parse_catalog(path.read_text("utf-8"), str(path))
    except (OSError, CatalogError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    services = {feature.service_name for feature in features}
    typer.echo(f"{path}: {len(features)} features of {len(services)} services.")


@cli.command("stripe-sync-catalog")
def stripe_sync_catalog() -> None:
    """Create or update the Stripe product and monthly price of every paid tier, and record
    each tier's stripePriceId. Running it again changes nothing."""
    from app.billing.catalog_sync import sync_catalog
    from app.billing.stripe_gateway import StripeGateway
    from app.core.db import Database

    settings = Settings()
    if not settings.stripe_configured:
        typer.echo(
            "Stripe is not configured: set BILLING_STRIPE_API_KEY and "
            "BILLING_STRIPE_WEBHOOK_SECRET.",
            err=True,
        )
        raise typer.Exit(1)

    async def run() -> None:
        db = Database(settings.resolved_database_url)
        try:
            for tier in await sync_catalog(db, StripeGateway(settings)):
                state = "updated" if tier.changed else "unchanged"
                typer.echo(f"{tier.tier_name}: {tier.stripe_price_id} ({state})")
        finally:
            await db.dispose()

    asyncio.run(run())


@cli.command("export-schema")
def export_schema(
    output: Annotated[Path, typer.Option(help="Where to write the SDL.")] = Path("schema.graphql"),
) -> None:
    """Write the GraphQL schema's SDL (checked in as schema.graphql)."""
    from app.graphql.schema import schema

    output.write_text(schema.as_str() + "\n")
    typer.echo(f"Wrote {output}.")


@audit.command("verify")
def audit_verify(
    customer_id: Annotated[
        str | None,
        typer.Option("--customer-id", help="Only this customer's chain (a UUID)."),
    ] = None,
) -> None:
    """Check every audit chain (or one customer's): each record's hash, its seq and its
    link to the one before, and the chain's head. Names the first broken record of each
    broken chain and exits 1; exits 0 when the trail is intact."""
    from app.audit.verify import snapshot_database, verify_trail

    wanted = _uuid(customer_id) if customer_id is not None else None

    async def run() -> None:
        db = snapshot_database(Settings().resolved_database_url)
        try:
            result = await verify_trail(db, customer_id=wanted)
        finally:
            await db.dispose()
        for broken in result.breaks:
            typer.echo(f"BROKEN {broken.describe()}")
        if result.breaks:
            typer.echo(
                f"Audit trail broken: {len(result.breaks)} of {result.chains} chains "
                f"({result.records} records read)."
            )
            raise typer.Exit(1)
        typer.echo(
            f"Audit trail intact: {result.chains} chains, {result.records} records verified."
        )

    asyncio.run(run())


def _service_names(names: list[str] | None) -> list[str]:
    """Service names as the catalog spells them (a name is at most 64 characters)."""
    for name in names or []:
        if not name.strip() or len(name) > 64:
            raise typer.BadParameter(f"not a service name: {name!r}", param_hint="--service")
    return sorted(set(names or []))


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise typer.BadParameter("must be a UUID") from None


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
