"""Handlers of /limits/consume, /limits/check and /limits/consume/batch (SPEC §5.8): no
transaction, no database.

The service's hot path, so they are plain ASGI apps: `DirectRoutes` hands them their
requests ahead of the middleware and Starlette's router, and each does in one frame what
the middleware would have done (`MeteringEndpoint.__call__`), through the same pieces:
the service's own limit, the body limit, the 500 of an unexpected error. No Request or
Response object is built on the way; answers are rendered with orjson, the same bytes
`JSONResponse` would send. Their errors name params as their bodies do (`RestParams`):
a batch's own by its envelope, each of its requests' by a single request's body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.principal import Principal, access_of
from app.container import Container
from app.core.errors import AppError
from app.core.inputs import parse_input
from app.core.json import read_json
from app.http.decisions import decision_body, decision_headers, refusal
from app.http.errors import RawHeaders, error_body, rendered_error, unexpected_error
from app.http.headers import raw_headers
from app.ops.body_limit import read_body
from app.rest.params import RestParams
from app.usage.consume import ConsumeBatch, ConsumeRequest, ConsumeService, Decision

M = TypeVar("M", bound=BaseModel)
# What an operation answers, ready to send: status, headers, body.
Reply = tuple[int, RawHeaders, bytes]
Operation = Callable[[ConsumeService, Principal, M], Awaitable[Reply]]
JSON = (b"content-type", b"application/json")
# Error params as a single consume or check, and each request of a batch, names them.
CONSUME_PARAMS = RestParams.of(body=ConsumeRequest)


class MeteringEndpoint(Generic[M]):
    def __init__(
        self, name: str, model: type[M], operation: Operation[M], declared: Callable[..., Any]
    ) -> None:
        self.__name__ = name  # as a handler function's, for the OpenAPI operation id
        self._model = model
        self._params = RestParams.of(body=model)
        self._operation = operation
        self._access = access_of(declared)  # the service operation's declaration

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            status, headers, body = await self._answer(scope, receive)
        except Exception as exc:
            status, (headers, body) = 500, unexpected_error(scope, exc)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope, receive: Receive) -> Reply:
        container: Container = scope["app"].state.container
        admission = await container.self_limit.admit(scope)
        if admission.refusal is not None:
            return error_reply(admission.refusal, self._params)
        try:
            principal = admission.caller()
            self._access.check(principal)
            raw = await read_body(scope, receive, container.settings.max_body_bytes)
            data = parse_input(self._model, read_json(raw))
            status, headers, body = await self._operation(
                container.services.consume, principal, data
            )
        except AppError as error:
            status, headers, body = error_reply(error, self._params)
        if admission.headers:
            headers = [*headers, *raw_headers(admission.headers)]
        return status, headers, body


def json_reply(answer: object, headers: dict[str, str] | None = None) -> Reply:
    """200 with `answer` rendered by orjson: the bytes `JSONResponse` would send."""
    body = orjson.dumps(answer)
    length = (b"content-length", str(len(body)).encode())
    return 200, [JSON, length, *raw_headers(headers or {})], body


def error_reply(error: AppError, params: RestParams) -> Reply:
    return (error.status, *rendered_error(error, error.headers, params))


def decision_reply(decision: Decision) -> Reply:
    """A decision, or the error its refusal is (429, 403), rendered without raising it:
    a storm of refusals costs no more than the decisions it refuses."""
    refused = refusal(decision)
    if refused is not None:
        return error_reply(refused, CONSUME_PARAMS)
    return json_reply(decision_body(decision), decision_headers(decision))


async def _consume(service: ConsumeService, caller: Principal, data: ConsumeRequest) -> Reply:
    return decision_reply(await service.consume(caller, data=data))


async def _check(service: ConsumeService, caller: Principal, data: ConsumeRequest) -> Reply:
    return decision_reply(await service.check(caller, data=data))


async def _batch(service: ConsumeService, caller: Principal, data: ConsumeBatch) -> Reply:
    outcomes = await service.consume_batch(caller, data=data)
    return json_reply({"decisions": [batch_item(outcome) for outcome in outcomes]})


def batch_item(outcome: Decision | AppError) -> dict[str, Any]:
    """An allowed decision's body, or the error a single consume would have answered,
    without an error id: it is an answer within a successful response, not a failed
    request."""
    if isinstance(outcome, Decision):
        refused = refusal(outcome)
        if refused is None:
            return decision_body(outcome)
        outcome = refused
    body = error_body(outcome, "", CONSUME_PARAMS)["error"]
    del body["error_id"]
    return {"error": body}


consume: ASGIApp = MeteringEndpoint("consume", ConsumeRequest, _consume, ConsumeService.consume)
check: ASGIApp = MeteringEndpoint("check", ConsumeRequest, _check, ConsumeService.check)
consume_batch: ASGIApp = MeteringEndpoint(
    "consume_batch", ConsumeBatch, _batch, ConsumeService.consume_batch
)
