"""Handlers of granular usage (SPEC §5.5): `/limits/usage/users` and `/quotas/usage/users`."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.core.errors import InvalidInput
from app.core.inputs import parse_uuid
from app.rest import catalog_views
from app.rest.context import RestCall
from app.usage.events import LIMIT_EVENTS, QUOTA_EVENTS, EventFilter

EVENT_QUERY = ("customerId", "userId", "from", "to")


async def limit_events(request: Request) -> Response:
    return await _events(request, LIMIT_EVENTS)


async def quota_events(request: Request) -> Response:
    return await _events(request, QUOTA_EVENTS)


async def _events(request: Request, types: Sequence[str]) -> Response:
    call = await RestCall.of(request)
    wanted = _filter(call, types)
    async with call.read() as session:
        page = await call.services.events.list(session, call.principal, wanted=wanted)
    return JSONResponse(catalog_views.usage_events(page))


def _filter(call: RestCall, types: Sequence[str]) -> EventFilter:
    customer_id, user_id = call.query("customerId"), call.query("userId")
    return EventFilter(
        types=types,
        customer_id=parse_uuid(customer_id, "customerId") if customer_id is not None else None,
        user_id=parse_uuid(user_id, "userId") if user_id is not None else None,
        since=_seconds(call, "from"),
        until=_seconds(call, "to"),
    )


def _seconds(call: RestCall, name: str) -> int | None:
    value = call.query(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a unix time in seconds.", param=name) from None
