"""Handlers of /customer (SPEC §5.1)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.customers.schemas import CustomerCreate, CustomerUpdate, TransferOwnership
from app.rest import views
from app.rest.context import RestCall


async def create_customer(request: Request) -> Response:
    call = await RestCall.of(request)
    data = await call.body(CustomerCreate)
    async with call.write() as session:
        details = await call.services.customers.create(session, call.principal, data=data)
    return JSONResponse(views.created_customer(details), status_code=201)


async def get_customer(request: Request) -> Response:
    call = await RestCall.of(request)
    async with call.read() as session:
        details = await call.services.customers.get(session, call.principal)
    return JSONResponse(views.customer(details))


async def update_customer(request: Request) -> Response:
    call = await RestCall.of(request)
    data = await call.body(CustomerUpdate)
    async with call.write() as session:
        details = await call.services.customers.update(session, call.principal, data=data)
    return JSONResponse(views.customer(details))


async def delete_customer(request: Request) -> Response:
    call = await RestCall.of(request)
    async with call.write() as session:
        await call.services.customers.delete(session, call.principal)
    return Response(status_code=204)


async def get_customer_tier(request: Request) -> Response:
    call = await RestCall.of(request)
    async with call.read() as session:
        details = await call.services.customers.get(session, call.principal)
    return JSONResponse(views.customer_tier(details))


async def leave_customer(request: Request) -> Response:
    call = await RestCall.of(request)
    async with call.write() as session:
        await call.services.customers.leave(session, call.principal)
    return Response(status_code=204)


async def transfer_ownership(request: Request) -> Response:
    call = await RestCall.of(request)
    data = await call.body(TransferOwnership)
    async with call.write() as session:
        result = await call.services.customers.transfer_ownership(
            session, call.principal, data=data
        )
    return JSONResponse(views.ownership_transfer(result))
