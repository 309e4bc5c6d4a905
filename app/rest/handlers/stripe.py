"""Handlers of /stripe (SPEC §5.6) and of the billing status (§5.7)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.billing.service import UpgradeRequest
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
    """Stripe is the caller: the signature is its credential, not a token or a key."""
    container = request.app.state.container
    billing = container.services.billing
    event = billing.verify_event(await request.body(), request.headers.get(SIGNATURE_HEADER))
    async with container.db.transaction() as session:
        await billing.handle_webhook(session, event)
    return JSONResponse(views.WebhookOut(received=True))


async def billing_status(request: Request) -> Response:
    call = await RestCall.of(request)
    async with call.read() as session:
        status = await call.services.billing.status(session, call.principal)
    return JSONResponse(views.billing_status(status))
