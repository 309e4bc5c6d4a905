"""Handlers of /limits/consume and /limits/check (SPEC §5.8): no transaction, no database.

The service's hot path, so they are plain ASGI apps: `DirectRoutes` hands them their
requests ahead of Starlette's router, and no Request or Response object is built on the
way. The answer is rendered with orjson, the same bytes `JSONResponse` would send.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.principal import Access, Principal, known_principal
from app.container import Container
from app.core.errors import AppError
from app.core.inputs import parse_input
from app.core.json import read_json
from app.rest.errors import error_response
from app.usage.consume import ConsumeRequest, ConsumeService, Decision
from app.usage.headers import raw_headers

Operation = Callable[[ConsumeService, Principal, ConsumeRequest], Awaitable[Decision]]
JSON = (b"content-type", b"application/json")


class MeteringEndpoint:
    def __init__(self, name: str, operation: Operation) -> None:
        self.__name__ = name  # as a handler function's, for the OpenAPI operation id
        self._operation = operation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        container: Container = scope["app"].state.container
        try:
            principal = known_principal(scope) or await container.credentials.of_scope(scope)
            Access.METERED.check(principal)
            data = parse_input(ConsumeRequest, read_json(await read_body(receive)))
            decision = await self._operation(container.services.consume, principal, data)
        except AppError as error:
            await error_response(error, error.headers)(scope, receive, send)
            return
        body = orjson.dumps(decision.body())
        headers = [
            JSON,
            (b"content-length", str(len(body)).encode()),
            *raw_headers(decision.headers("feature")),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


consume: ASGIApp = MeteringEndpoint(
    "consume", lambda service, caller, data: service.consume(caller, data=data)
)
check: ASGIApp = MeteringEndpoint(
    "check", lambda service, caller, data: service.check(caller, data=data)
)
