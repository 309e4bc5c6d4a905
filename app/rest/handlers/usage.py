"""Handlers of /limits/consume and /limits/check (SPEC §5.8): no transaction, no database.

The service's hot path: the answer is rendered with orjson, the same bytes `JSONResponse`
would send for a fraction of the time.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from app.rest.context import RestCall
from app.usage.consume import ConsumeRequest


async def consume(request: Request) -> Response:
    call = await RestCall.of(request)
    data = await call.body(ConsumeRequest)
    decision = await call.services.consume.consume(call.principal, data=data)
    return _json(decision.body(), decision.headers("feature"))


async def check(request: Request) -> Response:
    call = await RestCall.of(request)
    data = await call.body(ConsumeRequest)
    decision = await call.services.consume.check(call.principal, data=data)
    return _json(decision.body(), decision.headers("feature"))


def _json(body: dict[str, Any], headers: dict[str, str]) -> Response:
    return Response(orjson.dumps(body), headers=headers, media_type="application/json")
