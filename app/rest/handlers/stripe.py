"""Handlers of /stripe (SPEC §5.6) and of the billing status (§5.7)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.billing.service import UpgradeRequest
from app.core import metrics
from app.core.errors import AppError
from app.rest import views
from app.rest.context import RestCall

SIGNATURE_HEADER = "stripe-signature"


async def portal_session(request: Request) -> Response:
    call = await RestCall.of(request)
    url = await call.services.billing.portal_url(call.principal)
    return JSONResponse(views.PortalOut(url=url))


async def upgrade(request: Request) -> Response:
    call = await RestCall.of(request)
    data = await call.body(UpgradeRequest)
    url = await call.services.billing.checkout_url(call.principal, data=data)
    return JSONResponse(views.CheckoutOut(checkoutURL=url))


async def webhook(request: Request) -> Response:
    """Stripe is the caller: the signature is its credential, not a token or a key. Each
    event is counted by its type and what became of it, once its transaction is over."""
    container = request.app.state.container
    billing = container.services.billing
    try:
        event = billing.verify_event(await request.body(), request.headers.get(SIGNATURE_HEADER))
    except AppError:
        metrics.WEBHOOK_EVENTS.labels("unknown", "invalid").inc()
        raise
    try:
        async with container.db.transaction() as session:
            outcome = await billing.handle_webhook(session, event)
    except Exception:
        metrics.WEBHOOK_EVENTS.labels(event.type, "failed").inc()
        raise
    metrics.WEBHOOK_EVENTS.labels(event.type, outcome).inc()
    return JSONResponse(views.WebhookOut(received=True))


async def billing_status(request: Request) -> Response:
    call = await RestCall.of(request)
    async with call.read() as session:
        status = await call.services.billing.status(session, call.principal)
    return JSONResponse(views.billing_status(status))
