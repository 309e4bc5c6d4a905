"""Handlers of /customer/webhooks, and of /admin/customer/{customerID}/webhooks, where
billing_admin names the customer: one handler serves both paths."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.rest import webhook_views as views
from app.rest.context import RestCall
from app.webhooks.schemas import WebhookEndpointCreate, WebhookEndpointUpdate


def _customer(call: RestCall) -> uuid.UUID | None:
    """The customer the admin path names; None on the caller's own path."""
    if "customerID" not in call.request.path_params:
        return None
    return call.path_uuid("customerID")


async def list_webhooks(request: Request) -> Response:
    call = await RestCall.of(request)
    customer_id, page = _customer(call), call.page()
    async with call.read() as session:
        rows = await call.services.webhooks.list(
            session, call.principal, page=page, customer_id=customer_id
        )
    return JSONResponse(views.webhook_endpoints_page(rows))


async def create_webhook(request: Request) -> Response:
    call = await RestCall.of(request)
    customer_id = _customer(call)
    data = await call.body(WebhookEndpointCreate)
    issued = await call.services.webhooks.create(call.principal, data=data, customer_id=customer_id)
    return JSONResponse(views.issued_webhook_endpoint(issued), status_code=201)


async def get_webhook(request: Request) -> Response:
    call = await RestCall.of(request)
    customer_id, endpoint_id = _customer(call), call.path_uuid("webhookEndpointID")
    async with call.read() as session:
        row = await call.services.webhooks.get(
            session, call.principal, webhook_endpoint_id=endpoint_id, customer_id=customer_id
        )
    return JSONResponse(views.webhook_endpoint(row))


async def update_webhook(request: Request) -> Response:
    call = await RestCall.of(request)
    customer_id, endpoint_id = _customer(call), call.path_uuid("webhookEndpointID")
    data = await call.body(WebhookEndpointUpdate)
    row = await call.services.webhooks.update(
        call.principal, webhook_endpoint_id=endpoint_id, data=data, customer_id=customer_id
    )
    return JSONResponse(views.webhook_endpoint(row))


async def rotate_webhook_secret(request: Request) -> Response:
    call = await RestCall.of(request)
    customer_id, endpoint_id = _customer(call), call.path_uuid("webhookEndpointID")
    async with call.write() as session:
        issued = await call.services.webhooks.rotate_secret(
            session, call.principal, webhook_endpoint_id=endpoint_id, customer_id=customer_id
        )
    return JSONResponse(views.issued_webhook_endpoint(issued))


async def delete_webhook(request: Request) -> Response:
    call = await RestCall.of(request)
    customer_id, endpoint_id = _customer(call), call.path_uuid("webhookEndpointID")
    async with call.write() as session:
        await call.services.webhooks.delete(
            session, call.principal, webhook_endpoint_id=endpoint_id, customer_id=customer_id
        )
    return Response(status_code=204)


async def list_webhook_attempts(request: Request) -> Response:
    call = await RestCall.of(request)
    customer_id, endpoint_id = _customer(call), call.path_uuid("webhookEndpointID")
    page = call.page()
    async with call.read() as session:
        rows = await call.services.webhooks.attempts(
            session,
            call.principal,
            webhook_endpoint_id=endpoint_id,
            page=page,
            customer_id=customer_id,
        )
    return JSONResponse(views.webhook_attempts_page(rows))


async def replay_webhook_delivery(request: Request) -> Response:
    call = await RestCall.of(request)
    customer_id, endpoint_id = _customer(call), call.path_uuid("webhookEndpointID")
    delivery_id = call.path_uuid("webhookDeliveryID")
    async with call.write() as session:
        delivery = await call.services.webhooks.replay(
            session,
            call.principal,
            webhook_delivery_id=delivery_id,
            webhook_endpoint_id=endpoint_id,
            customer_id=customer_id,
        )
    return JSONResponse(views.webhook_delivery(delivery), status_code=202)
