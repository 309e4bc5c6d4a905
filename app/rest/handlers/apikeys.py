"""Handlers of /apikeys (SPEC §7)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.auth.apikeys import ApiKeyCreate
from app.rest import views
from app.rest.context import RestCall


async def create_api_key(request: Request) -> Response:
    call = await RestCall.of(request)
    data = await call.body(ApiKeyCreate)
    async with call.write() as session:
        issued = await call.services.api_keys.create(session, call.principal, data=data)
    return JSONResponse(views.issued_api_key(issued), status_code=201)


async def list_api_keys(request: Request) -> Response:
    call = await RestCall.of(request)
    async with call.read() as session:
        rows = await call.services.api_keys.list(session, call.principal)
    return JSONResponse(views.api_keys(rows))


async def revoke_api_key(request: Request) -> Response:
    call = await RestCall.of(request)
    key_id = call.path_uuid("id")
    async with call.write() as session:
        await call.services.api_keys.revoke(session, call.principal, key_id=key_id)
    return Response(status_code=204)
