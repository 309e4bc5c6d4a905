"""`/metrics` (see `app.core.metrics`; every request is counted in `app.ops.requests`).

Who may read `/metrics` is a setting: with `BILLING_METRICS_TOKEN`, whoever sends it as a
bearer token; without it, only a caller on the loopback interface whose request came
through no proxy (a proxy on the same host would otherwise open it to everyone).
"""

from __future__ import annotations

import hmac
import ipaddress
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import col
from starlette.requests import Request
from starlette.responses import Response

from app.core import metrics
from app.core.db import Database
from app.core.errors import Forbidden
from app.models import StripeTask

PROXY_HEADERS = (b"x-forwarded-for", b"forwarded", b"x-real-ip")


async def metrics_endpoint(request: Request) -> Response:
    container = request.app.state.container
    _authorise(request, container.settings.metrics_token)
    readings = await _outbox_readings(container.db, container.clock())
    return Response(metrics.exposition(readings), media_type=metrics.CONTENT_TYPE)


def _authorise(request: Request, token: object) -> None:
    secret = getattr(token, "get_secret_value", lambda: None)()
    if secret:
        sent = request.headers.get("authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {secret}".encode()):
            raise Forbidden("Send the metrics token as `Authorization: Bearer <token>`.")
        return
    peer = request.scope.get("client")
    proxied = any(name in PROXY_HEADERS for name, _ in request.scope["headers"])
    if peer is None or proxied or not _is_loopback(peer[0]):
        raise Forbidden(
            "/metrics answers callers on this host only; set BILLING_METRICS_TOKEN to "
            "let a scraper elsewhere read it with that bearer token."
        )


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


async def _outbox_readings(db: Database, now: datetime) -> list[metrics.Reading]:
    """The calls Stripe has yet to receive: the same for every worker, so read once, from
    the database, by whichever worker is scraped."""
    async with db.transaction(write=False) as session:
        depth, oldest = (
            await session.execute(select(func.count(), func.min(col(StripeTask.created_at))))
        ).one()
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    return [
        metrics.Reading("billing_stripe_outbox_depth", "Calls Stripe has yet to receive.", depth),
        metrics.Reading(
            "billing_stripe_outbox_oldest_age_seconds",
            "Age of the oldest call Stripe has yet to receive.",
            max(age, 0.0),
        ),
    ]
