"""Handlers of /limits/consume and /limits/check (SPEC §5.8): no transaction, no database."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.rest.context import RestCall
from app.usage.consume import ConsumeRequest


async def consume(request: Request) -> Response:
    call = await RestCall.of(request)
    data = await call.body(ConsumeRequest)
    decision = await call.services.consume.consume(call.principal, data=data)
    return JSONResponse(decision.body(), headers=decision.headers("feature"))


async def check(request: Request) -> Response:
    call = await RestCall.of(request)
    data = await call.body(ConsumeRequest)
    decision = await call.services.consume.check(call.principal, data=data)
    return JSONResponse(decision.body(), headers=decision.headers("feature"))
