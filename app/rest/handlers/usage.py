"""Handlers of /limits/consume, /limits/check and /limits/consume/batch (SPEC §5.8): no
transaction, no database.

The service's hot path, so they are plain ASGI apps: `DirectRoutes` hands them their
requests ahead of Starlette's router, and no Request or Response object is built on the
way. The answer is rendered with orjson, the same bytes `JSONResponse` would send.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.principal import Access, Principal, known_principal
from app.container import Container
from app.core.errors import AppError
from app.core.inputs import parse_input
from app.core.json import read_json
from app.rest.errors import error_body, error_response
from app.usage.consume import ConsumeBatch, ConsumeRequest, ConsumeService, Decision
from app.usage.headers import raw_headers

M = TypeVar("M", bound=BaseModel)
# An operation's answer: the JSON body and the response headers.
Answer = tuple[object, dict[str, str]]
Operation = Callable[[ConsumeService, Principal, M], Awaitable[Answer]]
JSON = (b"content-type", b"application/json")


class MeteringEndpoint(Generic[M]):
    def __init__(self, name: str, model: type[M], operation: Operation[M]) -> None:
        self.__name__ = name  # as a handler function's, for the OpenAPI operation id
        self._model = model
        self._operation = operation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        container: Container = scope["app"].state.container
        try:
            principal = known_principal(scope) or await container.credentials.of_scope(scope)
            Access.METERED.check(principal)
            data = parse_input(self._model, read_json(await read_body(receive)))
            answer, answer_headers = await self._operation(
                container.services.consume, principal, data
            )
        except AppError as error:
            await error_response(error, error.headers)(scope, receive, send)
            return
        body = orjson.dumps(answer)
        headers = [
            JSON,
            (b"content-length", str(len(body)).encode()),
            *raw_headers(answer_headers),
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


def _decided(decision: Decision) -> Answer:
    return decision.body(), decision.headers("feature")


async def _consume(service: ConsumeService, caller: Principal, data: ConsumeRequest) -> Answer:
    return _decided(await service.consume(caller, data=data))


async def _check(service: ConsumeService, caller: Principal, data: ConsumeRequest) -> Answer:
    return _decided(await service.check(caller, data=data))


async def _batch(service: ConsumeService, caller: Principal, data: ConsumeBatch) -> Answer:
    outcomes = await service.consume_batch(caller, data=data)
    return {"decisions": [batch_item(outcome) for outcome in outcomes]}, {}


def batch_item(outcome: Decision | AppError) -> dict[str, Any]:
    """An allowed decision's body, or the error a single consume would have answered,
    without an error id: it is an answer within a successful response, not a failed
    request."""
    if isinstance(outcome, Decision):
        refusal = outcome.refusal()
        if refusal is None:
            return outcome.body()
        outcome = refusal
    body = error_body(outcome, "")["error"]
    del body["error_id"]
    return {"error": body}


consume: ASGIApp = MeteringEndpoint("consume", ConsumeRequest, _consume)
check: ASGIApp = MeteringEndpoint("check", ConsumeRequest, _check)
consume_batch: ASGIApp = MeteringEndpoint("consume_batch", ConsumeBatch, _batch)
